package resp

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
)

// gen builds valid frames from fuzz bytes, so that the fuzzer explores the
// grammar rather than mostly hitting the first malformed byte.
type gen struct {
	src []byte
	out bytes.Buffer
}

func (g *gen) next() byte {
	if len(g.src) == 0 {
		return 0
	}
	c := g.src[0]
	g.src = g.src[1:]
	return c
}

func (g *gen) str() string {
	n := int(g.next() % 12)
	var s []byte
	for range n {
		s = append(s, "ab\r\n:$*+-xyz01"[g.next()%14])
	}
	return string(s)
}

func (g *gen) reply(depth int) {
	kinds := 17
	if depth > 3 {
		kinds = 9 // leaves only
	}
	switch g.next() % byte(kinds) {
	case 0:
		g.out.WriteString("+OK\r\n")
	case 1:
		g.out.WriteString("-ERR x\r\n")
	case 2:
		g.out.WriteString(":" + strconv.Itoa(int(int8(g.next()))) + "\r\n")
	case 3, 4:
		s := g.str()
		g.out.WriteString("$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n")
	case 5:
		g.out.WriteString("$-1\r\n_\r\n"[:5])
	case 6:
		g.out.WriteString("#f\r\n")
	case 7:
		g.out.WriteString(",1.5\r\n")
	case 8:
		g.out.WriteString("$?\r\n;1\r\na\r\n;0\r\n")
	case 9, 10, 11, 12:
		t := "*%~>"[g.next()%4]
		n := int(g.next() % 4)
		g.out.WriteString(string(t) + strconv.Itoa(n) + "\r\n")
		if t == '%' {
			n *= 2
		}
		for range n {
			g.reply(depth + 1)
		}
	case 13:
		n := int(g.next() % 3)
		g.out.WriteString("|" + strconv.Itoa(n) + "\r\n")
		for range 2 * n {
			g.reply(depth + 1)
		}
		g.reply(depth + 1)
	case 14, 15:
		g.out.WriteString(string("*~"[g.next()%2]) + "?\r\n")
		for range int(g.next() % 4) {
			g.reply(depth + 1)
		}
		g.out.WriteString(".\r\n")
	default:
		g.out.WriteString("*-1\r\n")
	}
}

// FuzzReplyFrames checks that scanning a concatenation of generated valid
// replies finds exactly their boundaries, and that every proper prefix of the
// first is incomplete rather than an error.
func FuzzReplyFrames(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3})
	f.Add([]byte{9, 0, 3, 3, 4, 0, 1, 2})
	f.Add([]byte{13, 1, 0, 1, 14, 0, 3, 0, 1, 2})
	f.Add([]byte{11, 2, 3, 15, 1, 2, 8, 0})
	f.Fuzz(func(t *testing.T, src []byte) {
		g := &gen{src: src}
		var ends []int
		for len(g.src) > 0 && len(ends) < 8 {
			g.reply(0)
			ends = append(ends, g.out.Len())
		}
		buf := g.out.Bytes()
		start := 0
		for _, end := range ends {
			n, err := ReplyLen(buf[start:])
			if err != nil || start+n != end {
				t.Fatalf("frame %q: got n=%d err=%v, want %d", buf[start:end], n, err, end-start)
			}
			start = end
		}
		if len(ends) > 0 {
			for k := 0; k < ends[0]; k++ {
				if _, err := ReplyLen(buf[:k]); !errors.Is(err, ErrIncomplete) {
					t.Fatalf("prefix %q of %q: got %v, want ErrIncomplete", buf[:k], buf[:ends[0]], err)
				}
			}
		}
	})
}

// FuzzReplyLen feeds arbitrary bytes: the scanner must return a length within
// the input, ErrIncomplete or a *ProtocolError, never panic or loop, and a
// frame it accepts must be accepted again on its own and followed by
// anything.
func FuzzReplyLen(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "*2\r\n$1\r\na\r\n:1\r\n", "|1\r\n+a\r\n+b\r\n_\r\n", "*?\r\n.\r\n", "$?\r\n;0\r\n", ">1\r\n#t\r\n", "%1\r\n,1\r\n(2\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n, err := ReplyLen(in)
		checkScan(t, in, n, err)
		if err == nil {
			again, err2 := ReplyLen(append(in[:n:n], "+tail\r\n"...))
			if err2 != nil || again != n {
				t.Fatalf("frame %q followed by more data: got %d, %v", in[:n], again, err2)
			}
		}
	})
}

// FuzzCommandLen is FuzzReplyLen for client commands, plus Args on every
// accepted frame.
func FuzzCommandLen(f *testing.F) {
	for _, s := range []string{"*1\r\n$4\r\nPING\r\n", "PING\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "*0\r\n", "\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n, err := CommandLen(in)
		checkScan(t, in, n, err)
		if err == nil {
			var argv [8][]byte
			for _, a := range Args(in[:n], argv[:0]) {
				if len(a) > n {
					t.Fatalf("argument longer than its frame")
				}
			}
		}
	})
}

func checkScan(t *testing.T, in []byte, n int, err error) {
	t.Helper()
	var pe *ProtocolError
	switch {
	case err == nil:
		if n <= 0 || n > len(in) {
			t.Fatalf("length %d outside input of %d bytes", n, len(in))
		}
	case errors.Is(err, ErrIncomplete), errors.As(err, &pe):
	default:
		t.Fatalf("unexpected error type %T: %v", err, err)
	}
}
