package instance

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMeasureVolumeCountsTheFilesUnderTheDataDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "appendonlydir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{"dump.rdb": 1000, "appendonlydir/app.aof.1.base.rdb": 3000, "appendonlydir/app.aof.1.incr.aof": 500} {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v := measureVolume(dir)
	if v == nil {
		t.Fatal("no measure of a readable directory")
	}
	if v.DataBytes != 4500 {
		t.Errorf("data bytes %d, want 4500", v.DataBytes)
	}
	if v.FilesystemBytes <= 0 || v.FilesystemFreeBytes < 0 || v.FilesystemFreeBytes > v.FilesystemBytes {
		t.Errorf("filesystem %d bytes, %d free", v.FilesystemBytes, v.FilesystemFreeBytes)
	}
	if measureVolume(filepath.Join(dir, "missing")) != nil {
		t.Error("a missing directory measured")
	}
}
