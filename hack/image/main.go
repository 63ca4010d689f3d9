// Command image builds haredis's OCI image without a container engine
// (make image): the static haredis binary, built here, on an empty base
// with a non-root user, written as a tar in OCI layout that also holds a
// Docker manifest, so that docker load, kind load image-archive, crane push
// and skopeo copy all take it. The same commit gives the same digest:
// every time stamp is the commit's, and the binary is built with
// -trimpath and without VCS stamping.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	var o Options
	var created int64
	flag.StringVar(&o.Repo, "repo", ".", "the haredis repository to build from")
	flag.StringVar(&o.Output, "o", "bin/haredis-image.tar", "the image tar to write")
	flag.StringVar(&o.Name, "name", "haredis/haredis", "the image's repository name")
	flag.StringVar(&o.Version, "version", "dev", "the version: the tag, and what haredis version prints")
	flag.StringVar(&o.Revision, "revision", "", "the source revision (a git commit) for the labels")
	flag.StringVar(&o.Source, "source", "https://github.com/haredis/haredis", "the source repository for the labels")
	flag.StringVar(&o.Arch, "arch", "amd64", "the CPU architecture (GOARCH)")
	flag.Int64Var(&created, "created", 0, "the image's creation time in Unix seconds (the commit's time: SOURCE_DATE_EPOCH)")
	flag.Parse()
	o.Created = time.Unix(created, 0).UTC()
	res, err := Build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "make image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %s:%s %s\n", o.Output, o.Name, o.Version, res.Digest)
}
