package plugin

import (
	"bytes"
	"testing"

	"github.com/haredis/haredis/internal/rdbimport"
)

func TestPrintImport(t *testing.T) {
	cases := map[string]*rdbimport.Report{
		"import-clean.txt": {Format: 11, Writer: "redis 7.2.4", Bytes: 48211990, Keys: 120345, Imported: 120345, Databases: []int{0}, Seconds: 9.83},
		"import-mixed.txt": {Format: 11, Writer: "valkey 8.0.1", Bytes: 1024, Keys: 30, Imported: 24, Skipped: 2, Expired: 1, Refused: 3,
			Refusals:  []rdbimport.Refusal{{DB: 0, Key: "big", Error: "OOM command not allowed when used memory > 'maxmemory'."}, {DB: 2, Key: "other", Error: "ERR Bad data format"}},
			Databases: []int{0, 2}, Seconds: 0.4},
	}
	for name, r := range cases {
		var b bytes.Buffer
		PrintImport(&b, "app", r)
		golden(t, name, b.String())
	}
}
