package rdbstream

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/haredis/haredis/internal/resp"
)

// fakeServer accepts one connection and plays a server's side of the
// synchronisation: it answers each command with what reply returns, then
// runs sync (which writes the snapshot) after PSYNC.
type fakeServer struct {
	addr string
	// commands received, joined by spaces, in order.
	commands chan string
}

func startFake(t *testing.T, reply func(cmd []string) string, sync func(w *bufio.Writer)) *fakeServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{addr: l.Addr().String(), commands: make(chan string, 16)}
	done := make(chan struct{})
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	go func() {
		defer close(done)
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
		var buf []byte
		for {
			n, err := resp.CommandLen(buf)
			if err != nil {
				chunk := make([]byte, 4096)
				m, rerr := r.Read(chunk)
				if rerr != nil {
					return
				}
				buf = append(buf, chunk[:m]...)
				continue
			}
			var argv [8][]byte
			var cmd []string
			for _, a := range resp.Args(buf[:n], argv[:0]) {
				cmd = append(cmd, string(a))
			}
			buf = buf[n:]
			f.commands <- strings.Join(cmd, " ")
			w.WriteString(reply(cmd))
			w.Flush()
			if strings.EqualFold(cmd[0], "PSYNC") {
				sync(w)
				w.Flush()
				return
			}
		}
	}()
	return f
}

// okReplies answers like a Redis 7 primary.
func okReplies(cmd []string) string {
	if strings.EqualFold(cmd[0], "PSYNC") {
		return "\n\n+FULLRESYNC 0123456789abcdef0123456789abcdef01234567 4242\r\n"
	}
	return "+OK\r\n"
}

// testMark is the end mark of diskless payloads in the fake tests.
const testMark = "d6a3c8f1e2b4d5a6c7e8f9a0b1c2d3e4f5a6b7c8"

// synthRDB builds a small valid RDB: a header with aux fields, one string
// key, the EOF opcode and the checksum (0 when withCRC is false).
func synthRDB(withCRC bool) []byte {
	b := []byte("REDIS0011")
	aux := func(k, v string) {
		b = append(b, opAux, byte(len(k)))
		b = append(b, k...)
		b = append(b, byte(len(v)))
		b = append(b, v...)
	}
	aux("redis-ver", "7.2.4")
	// An integer-encoded aux value (ctime), as servers write it.
	b = append(b, opAux, 5)
	b = append(b, "ctime"...)
	b = append(b, 0xc2, 0x10, 0x20, 0x30, 0x40)
	aux("valkey-ver", "8.0.1")
	b = append(b, 0xfe, 0x00, 0xfb, 0x01, 0x00) // SELECTDB 0, RESIZEDB 1 0
	b = append(b, 0x00, 1, 'k', 5)              // string k = "value"
	b = append(b, "value"...)
	b = append(b, opEOF)
	var crc uint64
	if withCRC {
		crc = CRC64(0, b)
	}
	return binary.LittleEndian.AppendUint64(b, crc)
}

// readAll reads s to its end with small reads, as a part-by-part uploader
// would, so that the framing is exercised across many reads.
func readAll(s io.Reader) ([]byte, error) {
	var out []byte
	p := make([]byte, 7)
	for {
		n, err := s.Read(p)
		out = append(out, p[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}
