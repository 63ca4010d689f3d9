package instance

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// rdbSummary is what the instance manager needs from an RDB file: whether it
// holds anything beyond metadata, and the replication id and offset Redis 7
// stores in its header.
type rdbSummary struct {
	// Format is the RDB format version of the header (REDIS0011: 11,
	// VALKEY080: 80).
	Format     int
	HasData    bool
	ReplID     string
	ReplOffset int64
}

const (
	rdbOpAux  = 0xfa
	rdbOpEOF  = 0xff
	maxAuxLen = 1 << 20
)

// inspectRDB reads the header of an RDB file up to the first opcode that is
// not an auxiliary field. An empty data set is written as header, aux
// fields and EOF; anything else (SELECTDB, RESIZEDB, functions, module data)
// counts as data.
func inspectRDB(path string) (rdbSummary, error) {
	f, err := os.Open(path)
	if err != nil {
		return rdbSummary{}, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	magic := make([]byte, 9)
	if _, err := io.ReadFull(r, magic); err != nil {
		return rdbSummary{}, fmt.Errorf("cannot inspect %s: not an RDB file", path)
	}
	format, ok := rdbFormat(magic)
	if !ok {
		return rdbSummary{}, fmt.Errorf("cannot inspect %s: not an RDB file", path)
	}
	s := rdbSummary{Format: format}
	for {
		op, err := r.ReadByte()
		if err != nil {
			return s, fmt.Errorf("cannot inspect %s: %w", path, err)
		}
		switch op {
		case rdbOpEOF:
			return s, nil
		case rdbOpAux:
			k, err := rdbString(r)
			if err != nil {
				return s, fmt.Errorf("cannot inspect %s: %w", path, err)
			}
			v, err := rdbString(r)
			if err != nil {
				return s, fmt.Errorf("cannot inspect %s: %w", path, err)
			}
			switch k {
			case "repl-id":
				s.ReplID = v
			case "repl-offset":
				s.ReplOffset, _ = strconv.ParseInt(v, 10, 64)
			}
		default:
			s.HasData = true
			return s, nil
		}
	}
}

// rdbLength reads a length; special reports an integer or LZF encoding
// (the low six bits then give the kind).
func rdbLength(r *bufio.Reader) (n uint64, special bool, err error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, false, err
	}
	switch b >> 6 {
	case 0:
		return uint64(b & 0x3f), false, nil
	case 1:
		b2, err := r.ReadByte()
		return uint64(b&0x3f)<<8 | uint64(b2), false, err
	case 2:
		switch b {
		case 0x80:
			var v uint32
			err := binary.Read(r, binary.BigEndian, &v)
			return uint64(v), false, err
		case 0x81:
			var v uint64
			err := binary.Read(r, binary.BigEndian, &v)
			return v, false, err
		}
		return 0, false, fmt.Errorf("unknown length encoding %#x", b)
	}
	return uint64(b & 0x3f), true, nil
}

func rdbString(r *bufio.Reader) (string, error) {
	n, special, err := rdbLength(r)
	if err != nil {
		return "", err
	}
	if special {
		switch n {
		case 0:
			v, err := r.ReadByte()
			return strconv.Itoa(int(int8(v))), err
		case 1:
			var v int16
			err := binary.Read(r, binary.LittleEndian, &v)
			return strconv.Itoa(int(v)), err
		case 2:
			var v int32
			err := binary.Read(r, binary.LittleEndian, &v)
			return strconv.Itoa(int(v)), err
		case 3:
			// LZF: compressed length, plain length, data. Aux values the
			// manager reads are never compressed; skip the bytes.
			clen, _, err := rdbLength(r)
			if err != nil {
				return "", err
			}
			if _, _, err := rdbLength(r); err != nil {
				return "", err
			}
			if clen > maxAuxLen {
				return "", errors.New("compressed aux field too long")
			}
			_, err = r.Discard(int(clen))
			return "", err
		}
		return "", fmt.Errorf("unknown string encoding %d", n)
	}
	if n > maxAuxLen {
		return "", errors.New("aux field too long")
	}
	buf := make([]byte, n)
	_, err = io.ReadFull(r, buf)
	return string(buf), err
}

// rdbFormat reads the format version of a 9-byte RDB header: REDIS and
// four digits, or VALKEY and three.
func rdbFormat(magic []byte) (int, bool) {
	digits := ""
	switch {
	case len(magic) == 9 && string(magic[:5]) == "REDIS":
		digits = string(magic[5:])
	case len(magic) == 9 && string(magic[:6]) == "VALKEY":
		digits = string(magic[6:])
	default:
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}
