// Package secretfile reads a credential (a password, the manager token)
// from a file a Secret volume mounts. There is one rule for every reader:
// the trailing line break an editor or `echo` adds is not part of the
// credential, anything else is (a password may begin or end with spaces),
// and an empty file is an error rather than "no password".
package secretfile

import (
	"fmt"
	"os"
	"strings"
)

// Read returns the credential in path. Read it at each use: the kubelet
// replaces the file in place when the Secret changes.
func Read(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err // names the path
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
