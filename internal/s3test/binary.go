package s3test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// BinaryEnv names the variable that gives the SeaweedFS binary; mk/bed.mk
// exports it for every make target.
const BinaryEnv = "HAREDIS_SEAWEEDFS"

// Binary returns the SeaweedFS binary to run: $HAREDIS_SEAWEEDFS, else
// bin/seaweedfs-VERSION/weed of the repository with the SEAWEEDFS_VERSION of
// hack/versions.mk. It fails, naming the make target, when the file is
// missing.
func Binary() (string, error) {
	path := os.Getenv(BinaryEnv)
	if path == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		version, err := Version(root)
		if err != nil {
			return "", err
		}
		path = filepath.Join(root, "bin", "seaweedfs-"+version, "weed")
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("SeaweedFS binary %s is missing: run `make setup-seaweedfs` to build it: %w", path, err)
	}
	return path, nil
}

// Version returns SEAWEEDFS_VERSION from hack/versions.mk under root.
func Version(root string) (string, error) {
	path := filepath.Join(root, "hack", "versions.mk")
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the SeaweedFS version: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), ":=")
		if ok && strings.TrimSpace(name) == "SEAWEEDFS_VERSION" {
			return strings.TrimSpace(value), nil
		}
	}
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("cannot read %s: %w", path, err)
	}
	return "", fmt.Errorf("%s does not set SEAWEEDFS_VERSION", path)
}

// repoRoot is the nearest directory upwards from the working directory
// whose go.mod declares the haredis module.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("cannot get the working directory: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/haredis/haredis\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("cannot find the haredis repository root above the working directory (set %s to the SeaweedFS binary)", BinaryEnv)
		}
		dir = parent
	}
}
