// Command krew renders the krew manifest of kubectl haredis
// (plugins/haredis.yaml, in krew-release-bot's template form) for a
// release tag, with the sha256 of each archive found in a directory.
//
//	go run ./hack/krew -tag v0.1.0 -dist bin/dist < plugins/haredis.yaml > bin/dist/haredis.yaml
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	tag := flag.String("tag", "", "release tag, for example v0.1.0")
	dist := flag.String("dist", "bin/dist", "directory holding the archives named in the manifest")
	flag.Parse()
	if *tag == "" {
		fmt.Fprintln(os.Stderr, "krew: -tag is required")
		os.Exit(2)
	}
	tmpl, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "krew: cannot read the template:", err)
		os.Exit(1)
	}
	out, err := Render(string(tmpl), *tag, *dist)
	if err != nil {
		fmt.Fprintln(os.Stderr, "krew:", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(out)
}
