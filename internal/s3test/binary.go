package s3test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/haredis/haredis/test/controlplane"
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
	versions, err := controlplane.ReadVersions(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the SeaweedFS version: %w", err)
	}
	if v := versions["SEAWEEDFS_VERSION"]; v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%s does not set SEAWEEDFS_VERSION", path)
}

// repoRoot is the repository root (controlplane.RepoRoot), with the way
// out when there is none.
func repoRoot() (string, error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return "", fmt.Errorf("%w (set %s to the SeaweedFS binary)", err, BinaryEnv)
	}
	return root, nil
}
