package instance

import (
	"bufio"
	"io"
	"os"
	"strings"
	"sync"
)

// outputTail passes redis-server's log through to the container log and
// keeps its last lines, so that the manager can tell why a start failed
// (Redis reports an unreadable RDB or AOF only there).
type outputTail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func newOutputTail(max int) *outputTail { return &outputTail{max: max} }

// pipe returns the file redis-server writes to and starts copying what it
// writes to dst; the caller closes the returned file once the child holds
// it.
func (t *outputTail) pipe(dst *os.File) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = io.WriteString(dst, line+"\n")
			t.add(line)
		}
	}()
	return w, nil
}

func (t *outputTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func (t *outputTail) reset() {
	t.mu.Lock()
	t.lines = nil
	t.mu.Unlock()
}

// loadFailure returns the line in which Redis says it could not read its
// data files, "" when there is none.
func (t *outputTail) loadFailure() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.lines) - 1; i >= 0; i-- {
		l := t.lines[i]
		for _, p := range loadFailurePatterns {
			if strings.Contains(l, p) {
				return strings.TrimSpace(l)
			}
		}
	}
	return ""
}

// loadFailurePatterns are Redis 7's messages for data files it cannot load
// (rdb.c, aof.c).
var loadFailurePatterns = []string{
	"Bad file format reading the append only file",
	"Unrecoverable error reading the append only file",
	"Unexpected end of file reading the append only file",
	"corrupted",
	"Short read or OOM loading DB",
	"Wrong signature trying to load DB from file",
	"Can't handle RDB format version",
	"Internal error in RDB reading",
	"Fatal error loading the DB",
	"Bad AOF manifest",
	"Invalid AOF manifest",
	"The AOF manifest file",
	"Unrecoverable error: AOF",
}
