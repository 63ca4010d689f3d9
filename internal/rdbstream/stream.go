package rdbstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// IdleTimeout bounds each wait for the server, as Redis's repl-timeout does
// a replica's: while it prepares the snapshot, a server sends a newline
// every second, and while it sends the snapshot the bytes keep coming.
const IdleTimeout = time.Minute

// maxLine bounds a reply line of the handshake.
const maxLine = 4 << 10

// Stream is the RDB snapshot a server sends to a replica that asked for
// nothing else: Read yields exactly the bytes of the RDB file, then io.EOF
// once the file has ended where its framing says and its checksum matches.
// A stream cut short, framed wrongly or corrupt ends with an error instead
// (wrapping io.ErrUnexpectedEOF when the server closed the connection
// early), and every later Read returns the same error.
type Stream struct {
	// ReplID and Offset are the replication position the snapshot holds
	// (+FULLRESYNC's): every write up to Offset of ReplID's history.
	ReplID string
	Offset int64

	ctx  context.Context
	conn net.Conn
	br   *bufio.Reader
	stop func() bool

	body     io.Reader
	size     int64
	diskless bool
	verify   verifier
	err      error

	closeOnce sync.Once
}

// Open connects to the server at addr, authenticates when password is set
// (as username when it is set, else as the default user), asks for an RDB
// alone and a full synchronisation, and returns once the server has
// answered +FULLRESYNC: the snapshot is the data set at that moment. The
// snapshot's bytes come with Read. ctx bounds the whole stream, not only
// Open: cancelling it cuts the connection. Close the Stream in any case.
func Open(ctx context.Context, addr, username, password string, dialTimeout time.Duration) (*Stream, error) {
	return OpenNetwork(ctx, "tcp", addr, username, password, dialTimeout)
}

// OpenNetwork is Open over network: "tcp", or "unix" with addr the path of
// the server's Unix socket (the way to a local server that speaks TLS only
// on its TCP port).
func OpenNetwork(ctx context.Context, network, addr, username, password string, dialTimeout time.Duration) (*Stream, error) {
	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s: %w", addr, err)
	}
	s := &Stream{ctx: ctx, conn: conn, br: bufio.NewReaderSize(conn, 64<<10), size: -1}
	s.stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
	if err := s.handshake(username, password); err != nil {
		s.Close()
		return nil, s.explain(fmt.Errorf("cannot start a snapshot of %s: %w", addr, err))
	}
	return s, nil
}

// handshake runs the replica's side of the synchronisation up to
// +FULLRESYNC.
func (s *Stream) handshake(username, password string) error {
	if password != "" {
		args := []string{"AUTH", password}
		if username != "" {
			args = []string{"AUTH", username, password}
		}
		if err := s.call(args...); err != nil {
			return fmt.Errorf("cannot authenticate: %w", err)
		}
	}
	// capa eof: the server may send the snapshot diskless.
	if err := s.call("REPLCONF", "capa", "eof", "capa", "psync2"); err != nil {
		return fmt.Errorf("the server refuses REPLCONF capa: %w", err)
	}
	if err := s.call("REPLCONF", "rdb-only", "1"); err != nil {
		return fmt.Errorf("the server refuses REPLCONF rdb-only (Redis 7.0 or later, or Valkey, is needed): %w", err)
	}
	if err := s.send("PSYNC", "?", "-1"); err != nil {
		return err
	}
	line, err := s.line()
	if err != nil {
		return fmt.Errorf("no answer to PSYNC: %w", err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "+FULLRESYNC" {
		return fmt.Errorf("the server answered PSYNC with %q, not +FULLRESYNC", line)
	}
	off, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return fmt.Errorf("the server answered PSYNC with %q: bad offset", line)
	}
	s.ReplID, s.Offset = f[1], off
	return nil
}

// call sends a command and expects +OK or another simple string.
func (s *Stream) call(args ...string) error {
	if err := s.send(args...); err != nil {
		return err
	}
	line, err := s.line()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+") {
		return fmt.Errorf("%s answered %q", args[0], line)
	}
	return nil
}

func (s *Stream) send(args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(IdleTimeout))
	if _, err := io.WriteString(s.conn, b.String()); err != nil {
		return fmt.Errorf("cannot send %s: %w", args[0], err)
	}
	return nil
}

// line reads the next reply line, skipping the bare newlines a server
// sends to keep a waiting replica's connection alive, and returns it
// without its line end; an error reply is an error.
func (s *Stream) line() (string, error) {
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(IdleTimeout))
		b, err := s.br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull) || len(b) > maxLine:
			return "", fmt.Errorf("a reply line is longer than %d bytes", maxLine)
		case err == io.EOF:
			return "", fmt.Errorf("the server closed the connection: %w", io.ErrUnexpectedEOF)
		case err != nil:
			return "", err
		}
		l := strings.TrimRight(string(b), "\r\n")
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "-") {
			return "", errors.New(l[1:])
		}
		return l, nil
	}
}

// bulkHeader reads $<len> or $EOF:<mark> and sets up the body.
func (s *Stream) bulkHeader() error {
	line, err := s.line()
	if err != nil {
		return fmt.Errorf("cannot read the header of the RDB payload: %w", err)
	}
	if mark, ok := strings.CutPrefix(line, "$EOF:"); ok {
		if len(mark) != markLen {
			return fmt.Errorf("the RDB payload's end mark %q is not %d bytes", mark, markLen)
		}
		s.body, s.diskless = newMarkBody(s.br, []byte(mark)), true
		return nil
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(line, "$"), 10, 64)
	if !strings.HasPrefix(line, "$") || err != nil || n < 0 {
		return fmt.Errorf("the server sent %q where the RDB payload's length belongs", line)
	}
	s.body, s.size = &lengthBody{r: s.br, total: n, remain: n}, n
	return nil
}

// Read yields the next bytes of the RDB file.
func (s *Stream) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.body == nil {
		if err := s.bulkHeader(); err != nil {
			return 0, s.fail(err)
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(IdleTimeout))
	n, err := s.body.Read(p)
	if verr := s.verify.write(p[:n]); verr != nil {
		return 0, s.fail(verr)
	}
	switch {
	case err == io.EOF:
		if verr := s.verify.finish(); verr != nil {
			return n, s.fail(verr)
		}
		s.err = io.EOF
		return n, io.EOF
	case err != nil:
		return n, s.fail(err)
	}
	return n, nil
}

// fail makes err the stream's final error.
func (s *Stream) fail(err error) error {
	s.err = s.explain(err)
	return s.err
}

// explain names the cancelled context as the cause of a cut connection.
func (s *Stream) explain(err error) error {
	if s.ctx.Err() != nil && !errors.Is(err, s.ctx.Err()) {
		return fmt.Errorf("%w (%w)", err, context.Cause(s.ctx))
	}
	return err
}

// Header is what the RDB's header said, as far as it has been read.
func (s *Stream) Header() Header { return s.verify.header.h }

// Size is the RDB's length as the server announced it, or -1 when the
// server sends it diskless (or Read has not been called yet).
func (s *Stream) Size() int64 { return s.size }

// Diskless reports whether the server sends the RDB as it writes it, with
// an end mark, rather than a file it saved first; known after the first
// Read.
func (s *Stream) Diskless() bool { return s.diskless }

// Close closes the connection; the server then stops sending (a diskless
// snapshot's child process ends, a disk-based one's file stays).
func (s *Stream) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.stop()
		err = s.conn.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	})
	return err
}
