package instance

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/haredis/haredis/internal/engine"
	"github.com/haredis/haredis/internal/rdbstream"
)

// detectServer finds the server binary of the image (RedisServer when set,
// else valkey-server or redis-server from PATH) and asks it its engine and
// version with --version, before it ever runs on the volume.
func (m *Manager) detectServer() (string, engine.Server, error) {
	bin := m.opts.RedisServer
	if bin == "" {
		e, err := engine.Installed(exec.LookPath)
		if err != nil {
			return "", engine.Server{}, err
		}
		bin = engine.BinariesOf(e).Server
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return bin, engine.Server{}, fmt.Errorf("cannot run %s --version: %w", bin, err)
	}
	s, err := engine.ParseVersionOutput(string(out))
	return bin, s, err
}

// serverRefusal says why srv must not start on this volume, "" when it
// may: a version haredis does not support, or data files in an RDB format
// srv cannot read (written by a newer server: a downgrade). Starting it
// anyway would fail to load and, as a replica, resynchronise over the
// only copy of data a newer server wrote.
func (m *Manager) serverRefusal(srv engine.Server) string {
	if err := srv.Supported(); err != nil {
		return fmt.Sprintf("the image runs %v; set spec.redis.image to a supported image", err)
	}
	for _, f := range dataFormats(m.opts.DataDir) {
		if !srv.Reads(f.format) {
			return fmt.Sprintf("%s holds RDB format %d, which %s cannot read (a newer server wrote it); nothing was started and the data is untouched: set spec.redis.image back to the image that wrote it, or to one that reads it", f.path, f.format, srv)
		}
	}
	return ""
}

type dataFormat struct {
	path   string
	format int
}

// dataFormats are the RDB formats of the files a server would load: dump.rdb
// and the base of an append-only file set.
func dataFormats(dataDir string) []dataFormat {
	paths := []string{filepath.Join(dataDir, "dump.rdb")}
	entries, _ := os.ReadDir(filepath.Join(dataDir, "appendonlydir"))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".rdb") {
			paths = append(paths, filepath.Join(dataDir, "appendonlydir", e.Name()))
		}
	}
	var out []dataFormat
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		magic := make([]byte, 9)
		n, _ := f.Read(magic)
		f.Close()
		if format, ok := rdbstream.FormatOf(magic[:n]); ok {
			out = append(out, dataFormat{path: p, format: format})
		}
	}
	return out
}
