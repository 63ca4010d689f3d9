package rdbstream

import (
	"encoding/binary"
	"fmt"
)

// trailerLen is the end of an RDB file: the EOF opcode, then the CRC64 of
// every byte before the checksum, little endian.
const trailerLen = 9

// minChecksumVersion is the first RDB format version with a checksum.
const minChecksumVersion = 5

// verifier follows the bytes of an RDB file as they pass: it reads the
// header and computes the CRC64 of everything but the last 8 bytes, which
// it holds back until it knows they are the last.
type verifier struct {
	header headerReader
	crc    uint64
	n      int64
	// tail holds the last trailerLen bytes seen, not yet in crc.
	tail [trailerLen]byte
	held int
}

// write takes the next bytes of the file.
func (v *verifier) write(p []byte) error {
	v.n += int64(len(p))
	if err := v.header.feed(p); err != nil {
		return err
	}
	if len(p) >= trailerLen {
		// The held bytes, and all of p but its last trailerLen, are
		// not the trailer.
		v.crc = CRC64(v.crc, v.tail[:v.held])
		v.crc = CRC64(v.crc, p[:len(p)-trailerLen])
		v.held = copy(v.tail[:], p[len(p)-trailerLen:])
		return nil
	}
	var both [2 * trailerLen]byte
	n := copy(both[:], v.tail[:v.held])
	n += copy(both[n:], p)
	out := max(n-trailerLen, 0)
	v.crc = CRC64(v.crc, both[:out])
	v.held = copy(v.tail[:], both[out:n])
	return nil
}

// finish checks the end of the file once every byte has passed: the EOF
// opcode, then a checksum equal to the CRC64 of all that came before (or
// 0, written by a server with rdbchecksum no).
func (v *verifier) finish() error {
	h := v.header.h
	if !v.header.done || h.RDBVersion == 0 {
		return fmt.Errorf("the RDB ended after %d bytes, within its header", v.n)
	}
	if h.RDBVersion < minChecksumVersion {
		// No checksum: the opcode ends the file.
		if v.held == 0 || v.tail[v.held-1] != opEOF {
			return fmt.Errorf("the RDB (format %d, %d bytes) does not end with the EOF opcode", h.RDBVersion, v.n)
		}
		return nil
	}
	if v.held < trailerLen || v.tail[0] != opEOF {
		return fmt.Errorf("the RDB (%d bytes) does not end with the EOF opcode and a checksum: it is cut short or corrupt", v.n)
	}
	want := binary.LittleEndian.Uint64(v.tail[1:])
	// The opcode belongs to the checksummed bytes.
	got := CRC64(v.crc, v.tail[:1])
	if want != 0 && want != got {
		return fmt.Errorf("the RDB (%d bytes) is corrupt: its CRC64 is %016x, its checksum says %016x", v.n, got, want)
	}
	return nil
}
