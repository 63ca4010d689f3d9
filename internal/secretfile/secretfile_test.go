package secretfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		content, want, err string
	}{
		{content: "s3cret\n", want: "s3cret"},
		{content: "s3cret\r\n", want: "s3cret"},
		{content: " spaces are kept ", want: " spaces are kept "},
		{content: "\n", err: "is empty"},
		{content: "", err: "is empty"},
	}
	for i, c := range cases {
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Read(path)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("case %d: error %v, want one saying %q", i, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("case %d: Read = %q, %v; want %q", i, got, err, c.want)
		}
	}
	if _, err := Read(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file gave no error")
	}
}
