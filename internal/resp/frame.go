package resp

import (
	"bytes"
	"errors"
	"fmt"
)

// Limits follow Redis's own defaults so that the proxy refuses what Redis
// would refuse anyway, and so that a hostile length cannot make a reader wait
// for gigabytes.
const (
	// MaxBulkLen is Redis's default proto-max-bulk-len (512 MiB).
	MaxBulkLen = 512 << 20
	// MaxInlineLen is Redis's PROTO_INLINE_MAX_SIZE: an inline command or a
	// single reply line longer than this is an error.
	MaxInlineLen = 64 << 10
	// MaxAggregateLen bounds the element count of one aggregate header.
	MaxAggregateLen = 1<<31 - 1
	// maxLevels bounds nesting of streamed aggregates (RESP3 "*?"), the only
	// nesting that needs a stack; counted aggregates nest without one.
	maxLevels = 64
)

// ErrIncomplete says the buffer holds only the beginning of a frame: read
// more bytes and scan again from the same start.
var ErrIncomplete = errors.New("resp: incomplete frame")

// ProtocolError is malformed input: the connection cannot be resynchronised
// and must be closed.
type ProtocolError struct {
	Offset int
	Reason string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("resp: protocol error at byte %d: %s", e.Offset, e.Reason)
}

func protoErr(off int, reason string) error { return &ProtocolError{Offset: off, Reason: reason} }

// line returns the index just past the CRLF that ends the line starting at
// start, and the end of the line's content.
func line(b []byte, start int) (contentEnd, next int, err error) {
	limit := len(b)
	if limit-start > MaxInlineLen+2 {
		limit = start + MaxInlineLen + 2
	}
	j := bytes.IndexByte(b[start:limit], '\n')
	if j < 0 {
		if limit < len(b) {
			return 0, 0, protoErr(start, "line too long")
		}
		return 0, 0, ErrIncomplete
	}
	j += start
	if j <= start+1 || b[j-1] != '\r' {
		return 0, 0, protoErr(j, "line not terminated by CRLF")
	}
	return j - 1, j + 1, nil
}

// parseInt parses a signed decimal integer the way Redis writes lengths.
func parseInt(b []byte, off int) (int64, error) {
	if len(b) == 0 || len(b) > 20 {
		return 0, protoErr(off, "bad integer")
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, protoErr(off, "bad integer")
		}
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, protoErr(off, "bad integer")
		}
		if n > (1<<62)/10 {
			return 0, protoErr(off, "integer overflow")
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}

// length parses an aggregate or bulk length header: -1 (null) or 0..max.
func length(b []byte, off int, max int64, nullOK bool) (int64, error) {
	n, err := parseInt(b, off)
	if err != nil {
		return 0, err
	}
	if n == -1 && nullOK {
		return -1, nil
	}
	if n < 0 || n > max {
		return 0, protoErr(off, "invalid length")
	}
	return n, nil
}

// bulkEnd returns the index past a bulk payload of n bytes that starts at i.
func bulkEnd(b []byte, i int, n int64) (int, error) {
	end := i + int(n) + 2
	if end > len(b) {
		return 0, ErrIncomplete
	}
	if b[end-2] != '\r' || b[end-1] != '\n' {
		return 0, protoErr(end-2, "bulk payload not terminated by CRLF")
	}
	return end, nil
}

// ReplyLen returns the length of the first complete RESP2 or RESP3 reply in b,
// attributes included (an attribute belongs to the value that follows it), or
// ErrIncomplete, or a *ProtocolError. It never allocates.
func ReplyLen(b []byte) (int, error) {
	// levels holds, for each open level, the elements still expected, or
	// streamed for a streamed aggregate that ends with ".". Counted children
	// of a counted level are merged into it, so only streamed aggregates
	// deepen the stack.
	const streamed = -1
	var levels [maxLevels]int64
	levels[0] = 1
	depth := 1
	i := 0
	// done records one finished element and reports whether the whole reply
	// is finished.
	done := func() bool {
		top := &levels[depth-1]
		if *top == streamed {
			return false
		}
		*top--
		if *top > 0 {
			return false
		}
		// A finished counted level is either the whole reply or one element
		// of a streamed parent, which counts nothing.
		depth--
		return depth == 0
	}
	open := func(off int, n int64) error {
		top := &levels[depth-1]
		if *top != streamed {
			*top += n
			return nil
		}
		if depth == maxLevels {
			return protoErr(off, "nesting too deep")
		}
		levels[depth] = n
		depth++
		return nil
	}
	for {
		if i >= len(b) {
			return 0, ErrIncomplete
		}
		t := b[i]
		ce, next, err := line(b, i)
		if err != nil {
			return 0, err
		}
		hdr := b[i+1 : ce]
		switch t {
		case '+', '-', ',', '(':
			i = next
			if done() {
				return i, nil
			}
		case ':':
			if _, err := parseInt(hdr, i+1); err != nil {
				return 0, err
			}
			i = next
			if done() {
				return i, nil
			}
		case '_':
			if len(hdr) != 0 {
				return 0, protoErr(i, "null with payload")
			}
			i = next
			if done() {
				return i, nil
			}
		case '#':
			if len(hdr) != 1 || (hdr[0] != 't' && hdr[0] != 'f') {
				return 0, protoErr(i, "bad boolean")
			}
			i = next
			if done() {
				return i, nil
			}
		case '$', '!', '=':
			if t == '$' && len(hdr) == 1 && hdr[0] == '?' {
				end, err := streamedString(b, next)
				if err != nil {
					return 0, err
				}
				i = end
			} else {
				n, err := length(hdr, i+1, MaxBulkLen, t == '$')
				if err != nil {
					return 0, err
				}
				if n < 0 {
					i = next
				} else {
					end, err := bulkEnd(b, next, n)
					if err != nil {
						return 0, err
					}
					i = end
				}
			}
			if done() {
				return i, nil
			}
		case '*', '%', '~', '>', '|':
			if len(hdr) == 1 && hdr[0] == '?' && t != '|' {
				if depth == maxLevels {
					return 0, protoErr(i, "nesting too deep")
				}
				levels[depth] = streamed
				depth++
				i = next
				continue
			}
			n, err := length(hdr, i+1, MaxAggregateLen, t == '*')
			if err != nil {
				return 0, err
			}
			if t == '%' || t == '|' {
				n *= 2
			}
			off := i
			i = next
			if t == '|' {
				// The attribute's pairs come first, then the value it
				// annotates fills the slot the attribute stood in.
				if n > 0 {
					if err := open(off, n); err != nil {
						return 0, err
					}
				}
				continue
			}
			if n <= 0 {
				if done() {
					return i, nil
				}
				continue
			}
			// The aggregate's slot is replaced by its n children.
			if levels[depth-1] != streamed {
				levels[depth-1] += n - 1
				continue
			}
			if err := open(off, n); err != nil {
				return 0, err
			}
		case '.':
			if len(hdr) != 0 || depth < 2 || levels[depth-1] != streamed {
				return 0, protoErr(i, "unexpected end of streamed aggregate")
			}
			depth--
			i = next
			if done() {
				return i, nil
			}
		default:
			return 0, protoErr(i, "unknown type byte")
		}
	}
}

// streamedString skips the chunks of a RESP3 streamed string starting at i.
func streamedString(b []byte, i int) (int, error) {
	for {
		if i >= len(b) {
			return 0, ErrIncomplete
		}
		if b[i] != ';' {
			return 0, protoErr(i, "expected streamed string chunk")
		}
		ce, next, err := line(b, i)
		if err != nil {
			return 0, err
		}
		n, err := length(b[i+1:ce], i+1, MaxBulkLen, false)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return next, nil
		}
		if i, err = bulkEnd(b, next, n); err != nil {
			return 0, err
		}
	}
}

// CommandLen returns the length of the first complete client command in b:
// either an array of bulk strings or an inline command ended by a newline.
// It returns ErrIncomplete or a *ProtocolError otherwise, and never allocates.
// A command with no arguments (an empty line, "*0") is a valid frame that
// Redis ignores without a reply. It scans from the start each time: a
// connection that reads a command in pieces uses a CommandScanner instead.
func CommandLen(b []byte) (int, error) {
	var s CommandScanner
	return s.Next(b, false)
}
