package rdbstream

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// markLen is the length of the random mark that ends a diskless payload
// ("$EOF:<mark>" announces it).
const markLen = 40

// lengthBody yields a payload announced as $<len>.
type lengthBody struct {
	r      *bufio.Reader
	total  int64
	remain int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.r.Read(p)
	b.remain -= int64(n)
	switch {
	case err == io.EOF && b.remain > 0:
		// Never the bare io.ErrUnexpectedEOF: readers that fill buffers
		// take it for a short last buffer, that is, for success.
		return n, fmt.Errorf("the server closed the connection after %d of the %d bytes of the RDB: %w", b.total-b.remain, b.total, io.ErrUnexpectedEOF)
	case err == io.EOF:
		return n, nil
	case err != nil:
		return n, fmt.Errorf("cannot read the RDB after %d of its %d bytes: %w", b.total-b.remain, b.total, err)
	}
	return n, nil
}

// markBody yields a payload that ends with mark: it holds back the last
// markLen bytes received until more come, and stops when the bytes
// received end with the mark, as a replica does.
type markBody struct {
	r    *bufio.Reader
	mark []byte
	// buf[start:end] is received and not yet yielded; it always holds the
	// last markLen bytes received (all of them, when fewer came).
	buf        []byte
	start, end int
	done       bool
	n          int64
}

func newMarkBody(r *bufio.Reader, mark []byte) *markBody {
	return &markBody{r: r, mark: mark, buf: make([]byte, 32<<10+markLen)}
}

func (b *markBody) Read(p []byte) (int, error) {
	for {
		hold := markLen
		if b.done {
			hold = 0
		}
		if b.end-b.start > hold {
			n := copy(p, b.buf[b.start:b.end-hold])
			b.start += n
			b.n += int64(n)
			return n, nil
		}
		if b.done {
			return 0, io.EOF
		}
		// At most markLen bytes wait: move them to the front.
		b.end = copy(b.buf, b.buf[b.start:b.end])
		b.start = 0
		m, err := b.r.Read(b.buf[b.end:])
		b.end += m
		if m > 0 && b.end >= markLen && bytes.Equal(b.buf[b.end-markLen:b.end], b.mark) {
			b.end -= markLen
			b.done = true
			continue
		}
		switch {
		case err == io.EOF:
			return 0, fmt.Errorf("the server closed the connection after %d bytes of the RDB, before the mark that ends it: %w", b.n+int64(b.end), io.ErrUnexpectedEOF)
		case err != nil:
			return 0, fmt.Errorf("cannot read the RDB after %d bytes: %w", b.n+int64(b.end), err)
		}
	}
}
