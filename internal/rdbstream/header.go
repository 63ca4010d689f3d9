package rdbstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Header is what the beginning of an RDB file says: its format version and
// the auxiliary fields of the server that wrote it.
type Header struct {
	// RDBVersion is the format version: the digits after REDIS (REDIS0011:
	// 11) or after VALKEY (VALKEY080: 80).
	RDBVersion int
	// RedisVer is the aux field redis-ver, the version of the Redis that
	// wrote the file; ValkeyVer the aux field valkey-ver, which Valkey 8
	// and later write instead.
	RedisVer  string
	ValkeyVer string
	// ReplID and ReplOffset are the aux fields repl-id and repl-offset:
	// the replication position of the data set (Redis 4 and later).
	ReplID     string
	ReplOffset int64
	// HasData: the file holds more than its header (a database, a
	// function, module data); an empty data set is the header and EOF.
	HasData bool
}

// maxHeader bounds the bytes kept to read the header: the aux fields of a
// Redis or Valkey RDB take a few hundred. Fields past it are not read.
const maxHeader = 4 << 10

const (
	opAux = 0xfa
	opEOF = 0xff
)

// errShort says the header's bytes so far end inside a field.
var errShort = errors.New("short")

// headerReader reads the header from the file's first bytes as they pass.
type headerReader struct {
	buf  []byte
	done bool
	h    Header
}

// feed takes the next bytes of the file. It fails when the file does not
// start as an RDB does; malformed aux fields merely end the reading (the
// checksum judges the file).
func (r *headerReader) feed(p []byte) error {
	if r.done {
		return nil
	}
	take := min(len(p), maxHeader-len(r.buf))
	r.buf = append(r.buf, p[:take]...)
	h, err := parseHeader(r.buf)
	var notRDB *NotRDBError
	switch {
	case errors.As(err, &notRDB):
		r.done, r.buf = true, nil
		return err
	case errors.Is(err, errShort) && len(r.buf) < maxHeader:
		return nil
	}
	// Complete, too long to follow to its end, or malformed: keep what
	// was read.
	r.h, r.done, r.buf = h, true, nil
	return nil
}

// NotRDBError is a stream that does not start with the magic of an RDB
// file.
type NotRDBError struct {
	Start []byte
}

func (e *NotRDBError) Error() string {
	return fmt.Sprintf("the stream is not an RDB file: it starts with %q", e.Start)
}

// parseHeader reads the magic and the aux fields up to the first other
// opcode. It returns errShort, with what it read, when b ends first.
func parseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < 9 {
		if !magicPrefix(b) {
			return h, &NotRDBError{Start: b}
		}
		return h, errShort
	}
	v, ok := rdbVersion(b[:9])
	if !ok {
		return h, &NotRDBError{Start: b[:9]}
	}
	h.RDBVersion = v
	c := cursor{b: b, i: 9}
	for {
		op, err := c.byte()
		if err != nil {
			return h, err
		}
		if op != opAux {
			h.HasData = op != opEOF
			return h, nil
		}
		k, err := c.str()
		if err != nil {
			return h, err
		}
		val, err := c.str()
		if err != nil {
			return h, err
		}
		switch k {
		case "redis-ver":
			h.RedisVer = val
		case "valkey-ver":
			h.ValkeyVer = val
		case "repl-id":
			h.ReplID = val
		case "repl-offset":
			h.ReplOffset, _ = strconv.ParseInt(val, 10, 64)
		}
	}
}

// magicPrefix tells whether b (shorter than 9 bytes) may begin a magic.
func magicPrefix(b []byte) bool {
	for _, m := range []string{"REDIS", "VALKEY"} {
		n := min(len(b), len(m))
		if string(b[:n]) == m[:n] {
			return true
		}
	}
	return false
}

// FormatOf reads the format version of the first 9 bytes of an RDB file:
// REDIS and four digits, or VALKEY and three.
func FormatOf(magic []byte) (int, bool) {
	if len(magic) != 9 {
		return 0, false
	}
	return rdbVersion(magic)
}

// rdbVersion reads the format version of a 9-byte magic: REDIS and four
// digits, or VALKEY and three.
func rdbVersion(magic []byte) (int, bool) {
	var digits []byte
	switch {
	case string(magic[:5]) == "REDIS":
		digits = magic[5:]
	case string(magic[:6]) == "VALKEY":
		digits = magic[6:]
	default:
		return 0, false
	}
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(string(digits))
	return n, err == nil
}

// cursor reads RDB encodings from a buffer that may end early.
type cursor struct {
	b []byte
	i int
}

func (c *cursor) byte() (byte, error) {
	if c.i >= len(c.b) {
		return 0, errShort
	}
	c.i++
	return c.b[c.i-1], nil
}

func (c *cursor) bytes(n uint64) ([]byte, error) {
	if n > uint64(len(c.b)-c.i) {
		return nil, errShort
	}
	c.i += int(n)
	return c.b[c.i-int(n) : c.i], nil
}

// length reads a length; special reports an integer or LZF encoding, whose
// kind the low six bits give.
func (c *cursor) length() (n uint64, special bool, err error) {
	b, err := c.byte()
	if err != nil {
		return 0, false, err
	}
	switch b >> 6 {
	case 0:
		return uint64(b & 0x3f), false, nil
	case 1:
		b2, err := c.byte()
		return uint64(b&0x3f)<<8 | uint64(b2), false, err
	case 2:
		switch b {
		case 0x80:
			v, err := c.bytes(4)
			if err != nil {
				return 0, false, err
			}
			return uint64(binary.BigEndian.Uint32(v)), false, nil
		case 0x81:
			v, err := c.bytes(8)
			if err != nil {
				return 0, false, err
			}
			return binary.BigEndian.Uint64(v), false, nil
		}
		return 0, false, fmt.Errorf("unknown length encoding %#x", b)
	}
	return uint64(b & 0x3f), true, nil
}

// str reads a string: plain, integer-encoded or LZF-compressed (whose text
// is not needed: it reads as "").
func (c *cursor) str() (string, error) {
	n, special, err := c.length()
	if err != nil {
		return "", err
	}
	if !special {
		v, err := c.bytes(n)
		return string(v), err
	}
	switch n {
	case 0, 1, 2:
		v, err := c.bytes(1 << n)
		if err != nil {
			return "", err
		}
		var x int64
		switch n {
		case 0:
			x = int64(int8(v[0]))
		case 1:
			x = int64(int16(binary.LittleEndian.Uint16(v)))
		case 2:
			x = int64(int32(binary.LittleEndian.Uint32(v)))
		}
		return strconv.FormatInt(x, 10), nil
	case 3:
		clen, _, err := c.length()
		if err != nil {
			return "", err
		}
		if _, _, err := c.length(); err != nil {
			return "", err
		}
		_, err = c.bytes(clen)
		return "", err
	}
	return "", fmt.Errorf("unknown string encoding %d", n)
}

// maxFileHeader bounds what ReadHeader reads of a file.
const maxFileHeader = 1 << 20

// ReadHeader reads the header of the RDB file r: its format, its aux
// fields, and whether a data set follows. A file that ends within its
// header, or whose header is longer than a MiB, is an error.
func ReadHeader(r io.Reader) (Header, error) {
	var b []byte
	chunk := make([]byte, 4<<10)
	for {
		n, err := r.Read(chunk)
		b = append(b, chunk[:n]...)
		h, perr := parseHeader(b)
		switch {
		case !errors.Is(perr, errShort):
			return h, perr
		case err == io.EOF:
			return h, errors.New("the RDB file ends within its header")
		case err != nil:
			return h, err
		case len(b) > maxFileHeader:
			return h, fmt.Errorf("the RDB file's header is longer than %d bytes", maxFileHeader)
		}
	}
}
