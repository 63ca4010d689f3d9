package rdbstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// lengthSync sends payload framed as $<announced>, after keep-alives.
func lengthSync(payload []byte, announced int) func(w *bufio.Writer) {
	return func(w *bufio.Writer) {
		w.WriteString("\n")
		w.Flush()
		fmt.Fprintf(w, "$%d\r\n", announced)
		w.Write(payload)
	}
}

// markSync sends payload framed with an end mark, in small writes so that
// the mark arrives split; withMark false ends the payload without it.
func markSync(payload []byte, withMark bool) func(w *bufio.Writer) {
	return func(w *bufio.Writer) {
		w.WriteString("\n\n$EOF:" + testMark + "\r\n")
		data := payload
		if withMark {
			data = append(append([]byte(nil), payload...), testMark...)
		}
		for len(data) > 0 {
			n := min(len(data), 13)
			w.Write(data[:n])
			w.Flush()
			data = data[n:]
		}
	}
}

func openFake(t *testing.T, f *fakeServer, user, password string) *Stream {
	t.Helper()
	s, err := Open(context.Background(), f.addr, user, password, time.Second)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFramings(t *testing.T) {
	rdb := synthRDB(true)
	for _, tc := range []struct {
		name     string
		sync     func(w *bufio.Writer)
		diskless bool
		size     int64
	}{
		{"length", lengthSync(rdb, len(rdb)), false, int64(len(rdb))},
		{"mark", markSync(rdb, true), true, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, okReplies, tc.sync)
			s := openFake(t, f, "backup", "pw")
			if s.ReplID != "0123456789abcdef0123456789abcdef01234567" || s.Offset != 4242 {
				t.Errorf("position %s %d, want the +FULLRESYNC's", s.ReplID, s.Offset)
			}
			got, err := readAll(s)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, rdb) {
				t.Errorf("read %d bytes %q, want the %d of the RDB %q", len(got), got, len(rdb), rdb)
			}
			if s.Diskless() != tc.diskless || s.Size() != tc.size {
				t.Errorf("diskless %v size %d, want %v %d", s.Diskless(), s.Size(), tc.diskless, tc.size)
			}
			want := Header{RDBVersion: 11, RedisVer: "7.2.4", ValkeyVer: "8.0.1", HasData: true}
			if diff := cmp.Diff(want, s.Header()); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if n, err := s.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Errorf("Read after the end: %d, %v; want 0, EOF", n, err)
			}
			var cmds []string
			for range 4 {
				cmds = append(cmds, <-f.commands)
			}
			wantCmds := []string{"AUTH backup pw", "REPLCONF capa eof capa psync2", "REPLCONF rdb-only 1", "PSYNC ? -1"}
			if diff := cmp.Diff(wantCmds, cmds); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChecksumDisabledIsAccepted(t *testing.T) {
	rdb := synthRDB(false)
	f := startFake(t, okReplies, markSync(rdb, true))
	s := openFake(t, f, "", "")
	got, err := readAll(s)
	if err != nil || !bytes.Equal(got, rdb) {
		t.Fatalf("read %q, %v; want the RDB without error", got, err)
	}
	if c := <-f.commands; c != "REPLCONF capa eof capa psync2" {
		t.Errorf("first command %q: no AUTH without a password", c)
	}
}

// failing is a stream that must end with an error, never io.EOF.
func failing(t *testing.T, s *Stream, want string) error {
	t.Helper()
	_, err := readAll(s)
	if err == nil {
		t.Fatalf("the stream ended cleanly, want an error saying %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if _, again := s.Read(make([]byte, 10)); again != err {
		t.Errorf("Read after the error: %v, want the same error %v", again, err)
	}
	return err
}

func TestCorruptByteFails(t *testing.T) {
	rdb := synthRDB(true)
	bad := append([]byte(nil), rdb...)
	bad[len(bad)-12] ^= 0x20 // inside the value of k
	for name, sync := range map[string]func(*bufio.Writer){
		"length": lengthSync(bad, len(bad)),
		"mark":   markSync(bad, true),
	} {
		t.Run(name, func(t *testing.T) {
			s := openFake(t, startFake(t, okReplies, sync), "", "")
			failing(t, s, "is corrupt")
		})
	}
}

func TestTruncatedStreamFails(t *testing.T) {
	rdb := synthRDB(true)
	short := rdb[:len(rdb)-20]
	for _, tc := range []struct {
		name, want string
		sync       func(*bufio.Writer)
		unexpected bool
	}{
		{"length shorter than announced", fmt.Sprintf("after %d of the %d bytes", len(short), len(rdb)), lengthSync(short, len(rdb)), true},
		{"no end mark", "before the mark that ends it", markSync(short, false), true},
		{"length of a cut file", "does not end with the EOF opcode", lengthSync(short, len(short)), false},
		{"cut file with its mark", "does not end with the EOF opcode", markSync(short, true), false},
		{"cut within the header", "within its header", lengthSync(rdb[:12], 12), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openFake(t, startFake(t, okReplies, tc.sync), "", "")
			err := failing(t, s, tc.want)
			if tc.unexpected {
				// A bare io.ErrUnexpectedEOF reads as a short last buffer
				// to io.ReadFull-style loops: it must be wrapped.
				if !errors.Is(err, io.ErrUnexpectedEOF) || err == io.ErrUnexpectedEOF {
					t.Errorf("error %v: want io.ErrUnexpectedEOF wrapped", err)
				}
			}
		})
	}
}

func TestNotAnRDB(t *testing.T) {
	payload := []byte("HELLO, this is not a snapshot")
	s := openFake(t, startFake(t, okReplies, lengthSync(payload, len(payload))), "", "")
	err := failing(t, s, "not an RDB file")
	var notRDB *NotRDBError
	if !errors.As(err, &notRDB) {
		t.Errorf("error %v is no *NotRDBError", err)
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, refused, answer, want string
	}{
		{"wrong password", "AUTH", "-WRONGPASS invalid username-password pair or user is disabled.\r\n", "cannot authenticate: WRONGPASS"},
		{"old server", "REPLCONF rdb-only", "-ERR Unrecognized REPLCONF option: rdb-only\r\n", "Redis 7.0 or later"},
		{"replica without a primary", "PSYNC", "-NOMASTERLINK Can't SYNC while not connected with my master\r\n", "NOMASTERLINK"},
		{"partial resync", "PSYNC", "+CONTINUE 0123\r\n", "not +FULLRESYNC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, func(cmd []string) string {
				if strings.HasPrefix(strings.Join(cmd, " "), tc.refused) {
					return tc.answer
				}
				return okReplies(cmd)
			}, func(*bufio.Writer) {})
			s, err := Open(context.Background(), f.addr, "", "secret-pw", time.Second)
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error saying %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), f.addr) {
				t.Errorf("error %q does not say %q and name %s", err, tc.want, f.addr)
			}
			if strings.Contains(err.Error(), "secret-pw") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestCancelCutsTheStream(t *testing.T) {
	release := make(chan struct{})
	f := startFake(t, okReplies, func(w *bufio.Writer) {
		w.WriteString("$EOF:" + testMark + "\r\nREDIS")
		w.Flush()
		<-release
	})
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Open(ctx, f.addr, "", "", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan error, 1)
	go func() {
		_, err := readAll(s)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Read after the cancel: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not end within 10s of the cancel")
	}
}
