package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestCopyExecutable(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho hi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "bin", "haredis")
	if err := os.Mkdir(filepath.Dir(dest), 0o755); err != nil {
		t.Fatal(err)
	}
	// An existing file is replaced, never appended to.
	if err := os.WriteFile(dest, []byte("old contents that are longer than the new ones"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := copyExecutable(src, dest); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte("#!/bin/sh\necho hi\n")) {
		t.Errorf("copied %q", got)
	}
	info, _ := os.Stat(dest)
	if info.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", info.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(dest))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := copyExecutable(filepath.Join(dir, "missing"), dest); err == nil {
		t.Error("copying a missing file succeeded")
	}
}
