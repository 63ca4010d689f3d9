package resp

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// outcome describes a scan result for comparisons: the length, or the kind
// and reason of the error.
func outcome(n int, err error) string {
	var pe *ProtocolError
	switch {
	case err == nil:
		return fmt.Sprintf("len %d", n)
	case errors.Is(err, ErrIncomplete):
		return "incomplete"
	case errors.Is(err, ErrTooLarge):
		return "too large"
	case errors.As(err, &pe):
		return "protocol error: " + pe.Reason
	}
	return "unexpected " + err.Error()
}

func TestCommandScannerLimits(t *testing.T) {
	for name, tc := range map[string]struct {
		in         string
		unauth     bool
		maxCommand int
		want       string
	}{
		"unauth 10 elements":         {"*10\r\n", true, 0, "incomplete"},
		"unauth 11 elements":         {"*11\r\n", true, 0, "protocol error: unauthenticated multibulk length"},
		"unauth million elements":    {"*1000000\r\n", true, 0, "protocol error: unauthenticated multibulk length"},
		"authed million elements":    {"*1000000\r\n", false, 0, "incomplete"},
		"unauth 16384 bytes":         {"*1\r\n$16384\r\n", true, 0, "incomplete"},
		"unauth 16385 bytes":         {"*1\r\n$16385\r\n", true, 0, "protocol error: unauthenticated bulk length"},
		"unauth 512 MiB":             {"*2\r\n$3\r\nSET\r\n$536870912\r\n", true, 0, "protocol error: unauthenticated bulk length"},
		"unauth 1 GiB":               {"*2\r\n$3\r\nSET\r\n$1073741824\r\n", true, 0, "protocol error: invalid bulk length"}, // as Redis: the bulk limit first
		"authed 1 GiB":               {"*1\r\n$1073741824\r\n", false, 0, "protocol error: invalid bulk length"},
		"authed 512 MiB":             {"*1\r\n$536870912\r\n", false, 0, "incomplete"},
		"over the command limit":     {"*1\r\n$100\r\n", false, 100, "too large"},
		"count over the limit":       {"*20\r\n", false, 100, "too large"},
		"count within the limit":     {"*15\r\n", false, 100, "incomplete"},
		"at the command limit":       {"*1\r\n$1\r\na\r\n", false, 11, "len 11"},
		"incomplete at the limit":    {"*1\r\n$2\r\na", false, 10, "too large"},
		"inline over the limit":      {"GET aaaaaaaa", false, 10, "too large"},
		"inline within the limit":    {"GET a\r\n", false, 10, "len 7"},
		"count over INT_MAX":         {"*2147483648\r\n", false, 0, "protocol error: invalid multibulk length"},
		"count not a number":         {"*x\r\n", false, 0, "protocol error: invalid multibulk length"},
		"count line too long":        {"*" + strings.Repeat("1", 40), false, 0, "protocol error: invalid multibulk length"},
		"bulk line too long":         {"*1\r\n$" + strings.Repeat("1", 40), false, 0, "protocol error: invalid bulk length"},
		"negative bulk":              {"*1\r\n$-1\r\n", false, 0, "protocol error: invalid bulk length"},
		"not a bulk":                 {"*1\r\n:1\r\n", false, 0, "protocol error: expected '$', got ':'"},
		"CR instead of a bulk":       {"*1\r\n\r\n", false, 0, "protocol error: expected '$', got ' '"},
		"bad payload end":            {"*1\r\n$1\r\nabc", false, 0, "protocol error: bulk payload not terminated by CRLF"},
		"inline too big":             {strings.Repeat("a", MaxInlineLen), true, 0, "protocol error: too big inline request"},
		"inline just within":         {strings.Repeat("a", MaxInlineLen-1) + "\n", true, 0, fmt.Sprintf("len %d", MaxInlineLen)},
		"empty multibulk":            {"*0\r\n", true, 0, "len 4"},
		"null multibulk":             {"*-1\r\n", true, 0, "len 5"},
		"unauth command within both": {"*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$4\r\npass\r\n", true, 0, "len 37"},
	} {
		t.Run(name, func(t *testing.T) {
			s := CommandScanner{MaxCommand: tc.maxCommand}
			if got := outcome(s.Next([]byte(tc.in), tc.unauth)); got != tc.want {
				t.Fatalf("Next(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// TestCommandScannerTrickle feeds a command of 100,000 arguments one byte
// at a time: the work must stay linear in its length.
func TestCommandScannerTrickle(t *testing.T) {
	var b strings.Builder
	const args = 100000
	fmt.Fprintf(&b, "*%d\r\n", args)
	for i := range args {
		fmt.Fprintf(&b, "$%d\r\n%d\r\n", len(fmt.Sprint(i)), i)
	}
	cmd := []byte(b.String())
	var s CommandScanner
	for k := 1; k <= len(cmd); k++ {
		n, err := s.Next(cmd[:k], false)
		if k < len(cmd) {
			if !errors.Is(err, ErrIncomplete) {
				t.Fatalf("prefix of %d bytes: %s", k, outcome(n, err))
			}
			continue
		}
		if err != nil || n != len(cmd) {
			t.Fatalf("whole command: %s, want len %d", outcome(n, err), len(cmd))
		}
	}
	if s.Scanned > 2*len(cmd) {
		t.Fatalf("scanned %d bytes for a command of %d", s.Scanned, len(cmd))
	}
	t.Logf("%d bytes trickled one at a time: %d bytes examined", len(cmd), s.Scanned)
}

// FuzzCommandScanner feeds a stream of commands in pieces: at every step the
// resumed scanner must agree with a fresh one scanning the same bytes from
// the command's start, and its work must stay within twice the bytes it
// framed (each byte is searched once and parsed at most once more).
//
// The first byte chooses the limits and the size of the pieces.
func FuzzCommandScanner(f *testing.F) {
	for _, s := range []string{
		"\x00*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n",
		"\x01*11\r\n",
		"\x03*1\r\n$16385\r\n",
		"\x05*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$4\r\npass\r\n*2\r\n$4\r\nECHO\r\n$1\r\nx\r\n",
		"\x10*1\r\n$20\r\n0123456789abcdefghij\r\n",
		"\x21GET aaaaaaaaaaaaaaaa\r\n*0\r\n\r\n",
		"\x40*2\r\n$1\r\na\r\n:1\r\n",
		"\x80*1\r\n$1\r\nabc",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		cfg, data := in[0], in[1:]
		unauth := cfg&1 != 0
		piece := 1 + int(cfg>>1&7)*3
		maxCommand := 0
		if cfg&0x80 != 0 {
			maxCommand = 16 + int(cfg>>4&7)*8
		}
		s := CommandScanner{MaxCommand: maxCommand}
		start, have := 0, 0
		for have < len(data) {
			have = min(len(data), have+piece)
			for start < have {
				n, err := s.Next(data[start:have], unauth)
				fresh := CommandScanner{MaxCommand: maxCommand}
				want := outcome(fresh.Next(data[start:have], unauth))
				if got := outcome(n, err); got != want {
					t.Fatalf("at %d of %q: resumed %s, fresh %s", have-start, data[start:have], got, want)
				}
				if err != nil && !errors.Is(err, ErrIncomplete) {
					return
				}
				if err != nil {
					break
				}
				start += n
			}
			if s.Scanned > 2*have {
				t.Fatalf("examined %d bytes of %d", s.Scanned, have)
			}
		}
	})
}
