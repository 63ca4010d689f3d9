package rdbstream

import (
	"fmt"
	"io"
)

// Checker passes the bytes of an RDB file through from r and checks them
// as they pass: a file that does not start as an RDB fails at once, one
// whose end is missing or whose CRC64 does not match fails at its end
// (io.ErrUnexpectedEOF wrapped for a cut file). It holds no more than the
// header's few KiB.
type Checker struct {
	r      io.Reader
	verify verifier
	err    error
}

// NewChecker checks the RDB file read from r.
func NewChecker(r io.Reader) *Checker { return &Checker{r: r} }

// Read implements io.Reader.
func (c *Checker) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	if verr := c.verify.write(p[:n]); verr != nil {
		c.err = verr
		return 0, verr
	}
	switch {
	case err == io.EOF:
		if verr := c.verify.finish(); verr != nil {
			c.err = fmt.Errorf("%w: %w", io.ErrUnexpectedEOF, verr)
			return n, c.err
		}
		c.err = io.EOF
	case err != nil:
		c.err = err
	}
	return n, err
}

// Header is what the file's header said, as far as it has been read.
func (c *Checker) Header() Header { return c.verify.header.h }
