package redisconf

import (
	"errors"
	"strings"
	"testing"
)

// splitArgs splits a config line the way Redis's sdssplitargs does, so that
// the test checks Quote against Redis's own parsing rules.
func splitArgs(line string) ([]string, error) {
	var args []string
	i := 0
	for {
		for i < len(line) && strings.IndexByte(" \n\r\t\f\v", line[i]) >= 0 {
			i++
		}
		if i == len(line) {
			return args, nil
		}
		var cur []byte
		inq, insq := false, false
		for done := false; !done; {
			switch {
			case inq:
				if i >= len(line) {
					return nil, errors.New("unterminated quotes")
				}
				c := line[i]
				switch {
				case c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					cur = append(cur, hexVal(line[i+2])*16+hexVal(line[i+3]))
					i += 3
				case c == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					default:
						cur = append(cur, line[i])
					}
				case c == '"':
					if i+1 < len(line) && strings.IndexByte(" \n\r\t\f\v", line[i+1]) < 0 {
						return nil, errors.New("closing quote must be followed by a space")
					}
					done = true
				default:
					cur = append(cur, c)
				}
			case insq:
				if i >= len(line) {
					return nil, errors.New("unterminated quotes")
				}
				c := line[i]
				switch {
				case c == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					cur = append(cur, '\'')
				case c == '\'':
					if i+1 < len(line) && strings.IndexByte(" \n\r\t\f\v", line[i+1]) < 0 {
						return nil, errors.New("closing quote must be followed by a space")
					}
					done = true
				default:
					cur = append(cur, c)
				}
			default:
				if i >= len(line) {
					done = true
					break
				}
				c := line[i]
				switch {
				case strings.IndexByte(" \n\r\t\f\v", c) >= 0:
					done = true
				case c == '"':
					inq = true
				case c == '\'':
					insq = true
				default:
					cur = append(cur, c)
				}
			}
			if i < len(line) {
				i++
			}
		}
		args = append(args, string(cur))
	}
}

func isHex(c byte) bool { return strings.IndexByte("0123456789abcdefABCDEF", c) >= 0 }

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// FuzzQuote checks that any value, quoted, stays one argument on one line
// and reads back unchanged.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "gxE", "900 1", `a"b`, `a\b`, "x\nreplicaof evil 1", `\x41`, "'", "é\x00\x7f", `" injected "`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		line := "maxmemory-policy " + Quote(value)
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("quoted value spans lines: %q", line)
		}
		args, err := splitArgs(line)
		if err != nil {
			t.Fatalf("Redis would refuse %q: %v", line, err)
		}
		if len(args) != 2 || args[0] != "maxmemory-policy" || args[1] != value {
			t.Fatalf("%q reads back as %q, want [maxmemory-policy %q]", line, args, value)
		}
	})
}
