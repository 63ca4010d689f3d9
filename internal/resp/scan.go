package resp

import (
	"bytes"
	"errors"
)

// Redis's limits for a client that has not authenticated yet (when a
// password is required): processMultibulkBuffer in networking.c refuses a
// larger array or bulk string from its header alone, before the payload
// arrives, with "Protocol error: unauthenticated multibulk length" or
// "... bulk length", and closes the connection.
const (
	MaxUnauthArgs    = 10
	MaxUnauthBulkLen = 16384
)

// maxCountLine bounds a "*N" or "$N" header line, CRLF included: a type byte,
// at most 20 characters of a number (parseInt refuses more) and CRLF, with
// room to spare. A longer line can only be an error, so it is one at once
// instead of after 64 KiB.
const maxCountLine = 32

// ErrTooLarge says the command is longer than the scanner's MaxCommand, or
// its headers already say that it will be.
var ErrTooLarge = errors.New("resp: command longer than the limit")

// CommandScanner frames client commands (arrays of bulk strings, or inline
// commands ended by a newline) one at a time, and resumes a command that is
// not complete yet where it stopped: each byte is examined a bounded number
// of times however the command is split across reads, so a command trickled
// byte by byte costs time in proportion to its length, not its square. The
// payload of a bulk string is not examined at all, only its end.
//
// It refuses a command from its headers alone when they already break a
// limit: Redis's own (MaxBulkLen, MaxAggregateLen, MaxInlineLen, and the
// unauthenticated limits), and MaxCommand. It never allocates, except for the
// error of a malformed command.
type CommandScanner struct {
	// MaxCommand bounds a command's length in bytes, framing included; 0
	// for none. A command whose headers declare more, or that is still
	// incomplete at that length, gets ErrTooLarge.
	MaxCommand int
	// Scanned counts the bytes examined so far (the scanner's work, for
	// tests that bound it per input byte).
	Scanned int

	busy   bool // a command is in progress: the fields below describe it
	unauth bool
	inline bool
	pos    int   // offset of the next header line (or of the payload's start)
	seen   int   // the line at pos has no '\n' before seen
	left   int64 // bulk strings still to come; -1 before the count is read
	end    int   // > 0: inside a payload whose CRLF ends at end
}

// Next returns the length of the command at the start of b, or
// ErrIncomplete, ErrTooLarge or a *ProtocolError. After ErrIncomplete the
// next call must pass the same command again, from its first byte (it may
// have moved in memory) and with more bytes; a command's limits are those
// in force when its first byte was scanned (unauthenticated: Redis's limits
// for a client that has not authenticated).
func (s *CommandScanner) Next(b []byte, unauthenticated bool) (int, error) {
	if !s.busy {
		if len(b) == 0 {
			return 0, ErrIncomplete
		}
		s.busy, s.unauth, s.inline = true, unauthenticated, b[0] != '*'
		s.pos, s.seen, s.left, s.end = 0, 0, -1, 0
	}
	var n int
	var err error
	if s.inline {
		n, err = s.inlineLen(b)
	} else {
		n, err = s.multibulkLen(b)
	}
	if err == ErrIncomplete {
		if s.MaxCommand > 0 && len(b) >= s.MaxCommand {
			s.busy = false
			return 0, ErrTooLarge
		}
		return 0, err
	}
	s.busy = false
	return n, err
}

// Reset forgets the command in progress.
func (s *CommandScanner) Reset() { s.busy = false }

// Pending reports whether a command is in progress (scanned in part).
func (s *CommandScanner) Pending() bool { return s.busy }

func (s *CommandScanner) inlineLen(b []byte) (int, error) {
	limit := min(len(b), MaxInlineLen)
	if s.seen < limit {
		j := bytes.IndexByte(b[s.seen:limit], '\n')
		if j >= 0 {
			s.Scanned += j + 1
			return s.seen + j + 1, nil
		}
		s.Scanned += limit - s.seen
		s.seen = limit
	}
	if limit == MaxInlineLen {
		return 0, protoErr(0, "too big inline request")
	}
	return 0, ErrIncomplete
}

// minElement is the shortest element of a command, "$0\r\n\r\n": a count
// promises at least that many bytes each.
const minElement = 6

func (s *CommandScanner) multibulkLen(b []byte) (int, error) {
	if s.left < 0 {
		ce, next, err := s.line(b)
		if err != nil {
			return 0, lineErr(err, "invalid multibulk length")
		}
		n, err := parseInt(b[1:ce], 1)
		s.Scanned += ce - 1
		switch {
		case err != nil || n > MaxAggregateLen:
			return 0, protoErr(1, "invalid multibulk length")
		case n > MaxUnauthArgs && s.unauth:
			return 0, protoErr(1, "unauthenticated multibulk length")
		case n <= 0:
			return next, nil // an empty command, which Redis ignores
		case s.MaxCommand > 0 && int64(next)+minElement*n > int64(s.MaxCommand):
			return 0, ErrTooLarge
		}
		s.left, s.pos, s.seen = n, next, next
	}
	for s.left > 0 {
		if s.end > 0 {
			if len(b) < s.end {
				return 0, ErrIncomplete
			}
			s.Scanned += 2
			if b[s.end-2] != '\r' || b[s.end-1] != '\n' {
				return 0, protoErr(s.end-2, "bulk payload not terminated by CRLF")
			}
			s.pos, s.seen, s.end = s.end, s.end, 0
			s.left--
			continue
		}
		if s.pos >= len(b) {
			return 0, ErrIncomplete
		}
		if t := b[s.pos]; t != '$' {
			return 0, protoErr(s.pos, "expected '$', got '"+printable(t)+"'")
		}
		ce, next, err := s.line(b)
		if err != nil {
			return 0, lineErr(err, "invalid bulk length")
		}
		l, err := parseInt(b[s.pos+1:ce], s.pos+1)
		s.Scanned += ce - s.pos - 1
		switch {
		case err != nil || l < 0 || l > MaxBulkLen:
			return 0, protoErr(s.pos+1, "invalid bulk length")
		case l > MaxUnauthBulkLen && s.unauth:
			return 0, protoErr(s.pos+1, "unauthenticated bulk length")
		}
		end := int64(next) + l + 2
		if s.MaxCommand > 0 && end+minElement*(s.left-1) > int64(s.MaxCommand) {
			return 0, ErrTooLarge
		}
		s.pos, s.end = next, int(end)
	}
	return s.pos, nil
}

// line finds the CRLF that ends the header line at s.pos, searching only
// bytes it has not searched before, and returns the end of the line's
// content and the offset past it.
func (s *CommandScanner) line(b []byte) (ce, next int, err error) {
	from := max(s.seen, s.pos)
	limit := min(len(b), s.pos+maxCountLine)
	if from < limit {
		j := bytes.IndexByte(b[from:limit], '\n')
		if j >= 0 {
			s.Scanned += j + 1
			j += from
			if j < s.pos+2 || b[j-1] != '\r' {
				return 0, 0, protoErr(j, "line not terminated by CRLF")
			}
			return j - 1, j + 1, nil
		}
		s.Scanned += limit - from
		s.seen = limit
	}
	if limit-s.pos >= maxCountLine {
		return 0, 0, protoErr(s.pos, "line too long")
	}
	return 0, 0, ErrIncomplete
}

// lineErr turns a malformed header line into Redis's error for it.
func lineErr(err error, reason string) error {
	if err == ErrIncomplete {
		return err
	}
	return protoErr(err.(*ProtocolError).Offset, reason)
}

// printable is the type byte Redis names in "expected '$', got 'x'", with
// CR and LF made spaces as Redis's error replies do.
func printable(t byte) string {
	if t == '\r' || t == '\n' {
		t = ' '
	}
	return string([]byte{t})
}
