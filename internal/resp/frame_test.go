package resp

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type scanResult struct {
	N          int
	Incomplete bool
	Protocol   bool
}

func result(n int, err error) scanResult {
	var pe *ProtocolError
	return scanResult{N: n, Incomplete: errors.Is(err, ErrIncomplete), Protocol: errors.As(err, &pe)}
}

func TestReplyLen(t *testing.T) {
	cases := map[string]struct {
		in   string
		want scanResult
	}{
		"simple string":          {"+OK\r\nrest", scanResult{N: 5}},
		"error":                  {"-ERR bad\r\n", scanResult{N: 10}},
		"integer":                {":-42\r\n", scanResult{N: 6}},
		"bad integer":            {":4x\r\n", scanResult{Protocol: true}},
		"bulk":                   {"$3\r\nfoo\r\n", scanResult{N: 9}},
		"bulk with CRLF inside":  {"$4\r\na\r\nb\r\n", scanResult{N: 10}},
		"null bulk":              {"$-1\r\n", scanResult{N: 5}},
		"incomplete bulk":        {"$10\r\nabc", scanResult{Incomplete: true}},
		"bulk bad terminator":    {"$3\r\nfooXY", scanResult{Protocol: true}},
		"bulk too long":          {"$999999999999\r\n", scanResult{Protocol: true}},
		"array":                  {"*2\r\n$1\r\na\r\n:1\r\n", scanResult{N: 15}},
		"null array":             {"*-1\r\n", scanResult{N: 5}},
		"empty array":            {"*0\r\n+x\r\n", scanResult{N: 4}},
		"nested array":           {"*2\r\n*1\r\n+a\r\n*0\r\n", scanResult{N: 16}},
		"incomplete array":       {"*3\r\n+a\r\n+b\r\n", scanResult{Incomplete: true}},
		"map":                    {"%1\r\n+k\r\n:1\r\n", scanResult{N: 12}},
		"set":                    {"~2\r\n+a\r\n+b\r\n", scanResult{N: 12}},
		"push":                   {">3\r\n+message\r\n+ch\r\n+hi\r\n", scanResult{N: 24}},
		"null":                   {"_\r\n", scanResult{N: 3}},
		"bool":                   {"#t\r\n", scanResult{N: 4}},
		"bad bool":               {"#x\r\n", scanResult{Protocol: true}},
		"double":                 {",3.14\r\n", scanResult{N: 7}},
		"big number":             {"(123456789012345678901234567890\r\n", scanResult{N: 33}},
		"blob error":             {"!5\r\nERR x\r\n", scanResult{N: 11}},
		"verbatim":               {"=7\r\ntxt:abc\r\n", scanResult{N: 13}},
		"attribute then value":   {"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n", scanResult{N: 21}},
		"attribute inside array": {"*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n", scanResult{N: 20}},
		"streamed string":        {"$?\r\n;2\r\nab\r\n;1\r\nc\r\n;0\r\n", scanResult{N: 23}},
		"streamed array":         {"*?\r\n:1\r\n*1\r\n+a\r\n.\r\n", scanResult{N: 19}},
		"streamed in array":      {"*2\r\n~?\r\n+a\r\n.\r\n:2\r\n", scanResult{N: 19}},
		"streamed unterminated":  {"*?\r\n:1\r\n", scanResult{Incomplete: true}},
		"stray end":              {".\r\n", scanResult{Protocol: true}},
		"unknown type":           {"x\r\n", scanResult{Protocol: true}},
		"bare LF":                {"+OK\n", scanResult{Protocol: true}},
		"empty":                  {"", scanResult{Incomplete: true}},
		"long line":              {"+" + strings.Repeat("a", MaxInlineLen+10), scanResult{Protocol: true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := result(ReplyLen([]byte(tc.in)))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ReplyLen(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestCommandLen(t *testing.T) {
	cases := map[string]struct {
		in   string
		want scanResult
	}{
		"multibulk":        {"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1", scanResult{N: 20}},
		"incomplete":       {"*2\r\n$3\r\nGET\r\n", scanResult{Incomplete: true}},
		"empty multibulk":  {"*0\r\n", scanResult{N: 4}},
		"non-bulk element": {"*1\r\n+GET\r\n", scanResult{Protocol: true}},
		"inline":           {"PING\r\nGET", scanResult{N: 6}},
		"inline LF only":   {"PING\n", scanResult{N: 5}},
		"inline partial":   {"PIN", scanResult{Incomplete: true}},
		"inline too long":  {strings.Repeat("a", MaxInlineLen+1), scanResult{Protocol: true}},
		"negative bulk":    {"*1\r\n$-1\r\n", scanResult{Protocol: true}},
		"bad count":        {"*x\r\n", scanResult{Protocol: true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := result(CommandLen([]byte(tc.in)))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CommandLen(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	cases := map[string]struct {
		in   string
		max  int
		want []string
	}{
		"multibulk":         {"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva\r\nl\r\n", 8, []string{"SET", "k", "va\r\nl"}},
		"multibulk limited": {"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", 1, []string{"SET"}},
		"inline":            {"  select\t 2 \r\n", 8, []string{"select", "2"}},
		"empty":             {"*0\r\n", 8, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var argv [8][]byte
			var got []string
			for _, a := range Args([]byte(tc.in), argv[:0:tc.max]) {
				got = append(got, string(a))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Args(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestEqualFold(t *testing.T) {
	for _, tc := range []struct {
		b, lower string
		want     bool
	}{{"SeLeCt", "select", true}, {"select", "select", true}, {"selec", "select", false}, {"SELECU", "select", false}} {
		if got := EqualFold([]byte(tc.b), tc.lower); got != tc.want {
			t.Errorf("EqualFold(%q, %q) = %v", tc.b, tc.lower, got)
		}
	}
}

func TestScanDoesNotAllocate(t *testing.T) {
	reply := []byte("*3\r\n$3\r\nfoo\r\n%1\r\n+a\r\n*?\r\n:1\r\n.\r\n|1\r\n+x\r\n+y\r\n:7\r\n")
	cmd := []byte("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n")
	var argv [4][]byte
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := ReplyLen(reply); err != nil {
			t.Fatal(err)
		}
		n, err := CommandLen(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if !EqualFold(Args(cmd[:n], argv[:0])[0], "set") {
			t.Fatal("name not found")
		}
	})
	if allocs != 0 {
		t.Errorf("scanning allocated %v times per run, want 0", allocs)
	}
}

func BenchmarkReplyLen(b *testing.B) {
	buf := []byte(strings.Repeat("$3\r\nbar\r\n", 16))
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		for i := 0; i < len(buf); {
			n, err := ReplyLen(buf[i:])
			if err != nil {
				b.Fatal(err)
			}
			i += n
		}
	}
}

func BenchmarkCommandLen(b *testing.B) {
	buf := []byte(strings.Repeat("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 16))
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		for i := 0; i < len(buf); {
			n, err := CommandLen(buf[i:])
			if err != nil {
				b.Fatal(err)
			}
			i += n
		}
	}
}
