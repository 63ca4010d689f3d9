package instance

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/haredis/haredis/internal/atomicfile"

	"github.com/haredis/haredis/internal/bootrole"
)

// The manager keeps its own files in a subdirectory of the data volume so
// that they survive restarts of the pod together with the data.
const stateSubdir = "haredis"

// savedConfig is the parameter group the manager applies at the next start
// of redis-server, and the last group a redis-server ran with.
type savedConfig struct {
	// MasterName of the RedisFailover that set the group: a group (and its
	// generation) left on a volume by a deleted RedisFailover is not the
	// group of one created again on the same volume.
	MasterName     string            `json:"masterName,omitempty"`
	Generation     int64             `json:"generation"`
	Desired        map[string]string `json:"desired"`
	Good           map[string]string `json:"good,omitempty"`
	GoodGeneration int64             `json:"goodGeneration,omitempty"`
}

func stateDir(dataDir string) string { return filepath.Join(dataDir, stateSubdir) }

func readJSON(path string, v interface{}) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("cannot parse %s: %w", path, err)
	}
	return true, nil
}

// writeJSON replaces path atomically (atomicfile) so that a crash never
// leaves half a file behind.
func writeJSON(path string, v interface{}) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("cannot create %s: %w", filepath.Dir(path), err)
	}
	return atomicfile.Write(path, b, 0o600)
}

// inspectDataDir inspects the volume: whether the RDB or the append-only
// files Redis would load hold data, and the position an RDB's header
// records.
func inspectDataDir(dataDir string) (bootrole.OwnData, bootrole.Position, error) {
	var d bootrole.OwnData
	var rdbPos bootrole.Position
	rdb := filepath.Join(dataDir, "dump.rdb")
	if _, err := os.Stat(rdb); err == nil {
		s, err := inspectRDB(rdb)
		if err != nil {
			// A file we cannot read may still hold data: say so.
			d.HasData = true
		}
		d.HasData = d.HasData || s.HasData
		if s.ReplID != "" {
			rdbPos = bootrole.Position{ReplID: s.ReplID, Offset: s.ReplOffset, Exact: true}
		}
	}
	entries, err := os.ReadDir(filepath.Join(dataDir, "appendonlydir"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return d, rdbPos, fmt.Errorf("cannot inspect the AOF directory: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(dataDir, "appendonlydir", e.Name())
		info, err := e.Info()
		if err != nil {
			continue
		}
		switch {
		case strings.HasSuffix(e.Name(), ".rdb"):
			s, err := inspectRDB(p)
			d.HasData = d.HasData || err != nil || s.HasData
		case strings.HasSuffix(e.Name(), ".aof"):
			d.HasData = d.HasData || info.Size() > 0
		}
	}
	return d, rdbPos, nil
}

// hasAOF tells whether the volume has an append-only file set (a manifest).
func hasAOF(dataDir string) bool {
	entries, err := os.ReadDir(filepath.Join(dataDir, "appendonlydir"))
	if err != nil {
		return false
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".manifest") {
			return true
		}
	}
	return false
}
