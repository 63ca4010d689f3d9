package controlplane

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultBinaries returns where `make setup` puts the control plane: the
// directories named by HAREDIS_KUBE_BIN and HAREDIS_ETCD_BIN, else
// bin/k8s-VERSION and bin/etcd-VERSION of the repository, with the versions
// of hack/versions.mk.
func DefaultBinaries() (kubeBinDir, etcdPath string, err error) {
	kubeBinDir = os.Getenv("HAREDIS_KUBE_BIN")
	etcdDir := os.Getenv("HAREDIS_ETCD_BIN")
	if kubeBinDir == "" || etcdDir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", "", err
		}
		versions, err := ReadVersions(filepath.Join(root, "hack", "versions.mk"))
		if err != nil {
			return "", "", err
		}
		if kubeBinDir == "" {
			kubeBinDir = filepath.Join(root, "bin", "k8s-"+versions["KUBE_VERSION"])
		}
		if etcdDir == "" {
			etcdDir = filepath.Join(root, "bin", "etcd-"+versions["ETCD_VERSION"])
		}
	}
	return kubeBinDir, filepath.Join(etcdDir, "etcd"), nil
}

// RepoRoot finds the repository root: the nearest directory upwards from the
// working directory whose go.mod declares the haredis module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("cannot get working directory: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/haredis/haredis\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("cannot find the haredis repository root above the working directory")
		}
		dir = parent
	}
}

// ReadVersions reads the NAME := VALUE lines of a make fragment (hack/versions.mk).
func ReadVersions(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read versions: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, ":=")
		if !ok {
			continue
		}
		out[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	for _, k := range []string{"KUBE_VERSION", "ETCD_VERSION"} {
		if out[k] == "" {
			return nil, fmt.Errorf("%s does not set %s", path, k)
		}
	}
	return out, nil
}
