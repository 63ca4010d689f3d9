package instance

import (
	"fmt"
	"os"

	"github.com/haredis/haredis/internal/rdbstream"
)

// rdbSummary is what the instance manager needs from an RDB file: whether it
// holds anything beyond metadata, and the replication id and offset Redis 7
// stores in its header.
type rdbSummary struct {
	// Format is the RDB format version of the header (REDIS0011: 11,
	// VALKEY080: 80).
	Format     int
	HasData    bool
	ReplID     string
	ReplOffset int64
}

// inspectRDB reads the header of an RDB file up to the first opcode that is
// not an auxiliary field. An empty data set is written as header, aux
// fields and EOF; anything else (SELECTDB, RESIZEDB, functions, module data)
// counts as data.
func inspectRDB(path string) (rdbSummary, error) {
	f, err := os.Open(path)
	if err != nil {
		return rdbSummary{}, err
	}
	defer f.Close()
	h, err := rdbstream.ReadHeader(f)
	if err != nil {
		return rdbSummary{}, fmt.Errorf("cannot inspect %s: %w", path, err)
	}
	return rdbSummary{Format: h.RDBVersion, HasData: h.HasData, ReplID: h.ReplID, ReplOffset: h.ReplOffset}, nil
}
