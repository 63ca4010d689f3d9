package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/haredis/haredis/internal/resp"
)

// upstreamLoop copies replies from up to the client, counting them.
func (c *conn) upstreamLoop(up net.Conn, done chan struct{}) {
	defer close(done)
	size := c.srv.cfg.BufferSize
	buf := make([]byte, size)
	r, w := 0, 0
	// skip counts the bytes still to come of a large bulk reply that is
	// forwarded as it arrives instead of being buffered whole.
	skip := 0
	for {
		if w == len(buf) {
			if r > 0 {
				copy(buf, buf[r:w])
				w -= r
				r = 0
			} else {
				nb := make([]byte, 2*len(buf))
				copy(nb, buf[:w])
				buf = nb
			}
		}
		n, err := up.Read(buf[w:])
		if n > 0 {
			from := w
			w += n
			replies := int64(0)
			if skip > 0 {
				k := min(skip, w-r)
				skip -= k
				r += k
				if skip == 0 {
					replies++ // a bulk string: not a push, not an error
				}
			}
			for skip == 0 && r < w {
				k, perr := resp.ReplyLen(buf[r:w])
				if errors.Is(perr, resp.ErrIncomplete) {
					if total := largeBulkLen(buf[r:w], size); total > 0 {
						skip = total - (w - r)
						r = w
					}
					break
				}
				if perr != nil {
					c.srv.cfg.Log.Info("closing connection on a malformed reply", "error", perr.Error())
					c.closeClient()
					return
				}
				if !resp.IsPush(buf[r : r+k]) {
					replies++
					if c.npend.Load() > 0 {
						c.applyState(c.recv.Load()+replies, resp.IsError(buf[r:r+k]))
					}
				}
				r += k
			}
			c.wmu.Lock()
			_, werr := c.client.Write(buf[from:w])
			c.wmu.Unlock()
			if werr != nil {
				c.closeClient()
				return
			}
			if replies > 0 {
				c.recv.Add(replies)
				if c.idleWait.Load() {
					select {
					case c.idle <- struct{}{}:
					default:
					}
				}
			}
			if r == w {
				r, w = 0, 0
				if len(buf) > 4*size {
					buf = make([]byte, size)
				}
			}
		}
		if err != nil {
			// Replies lost, or state no other server has: the client must
			// not go on as if nothing happened.
			if c.recv.Load() < c.sent.Load() || c.sticky.Load() {
				c.closeClient()
			}
			return
		}
	}
}

// largeBulkLen returns the total length of a top-level bulk string reply
// starting buf when its header is complete and it is larger than the
// buffer size, else 0.
func largeBulkLen(buf []byte, size int) int {
	if len(buf) < 4 || buf[0] != '$' {
		return 0
	}
	i := 1
	n := 0
	for ; i < len(buf) && i < 12 && buf[i] >= '0' && buf[i] <= '9'; i++ {
		n = n*10 + int(buf[i]-'0')
	}
	if i+1 >= len(buf) || buf[i] != '\r' || buf[i+1] != '\n' || n > resp.MaxBulkLen {
		return 0
	}
	total := i + 2 + n + 2
	if total <= size {
		return 0
	}
	return total
}

// applyState applies the pending state change of reply number seq.
func (c *conn) applyState(seq int64, isErr bool) {
	c.stMu.Lock()
	defer c.stMu.Unlock()
	for len(c.pending) > 0 && c.pending[0].seq <= seq {
		ch := c.pending[0]
		c.pending = c.pending[1:]
		c.npend.Add(-1)
		if ch.seq != seq || isErr {
			continue
		}
		switch ch.kind {
		case stSelect:
			c.st.db = ch.db
		case stSetName:
			c.st.name = ch.name
		case stHello:
			if ch.proto != 0 {
				c.st.proto = ch.proto
			}
			if ch.setNm {
				c.st.name = ch.name
			}
		case stReset:
			c.st = sessionState{proto: 2}
		}
	}
}

// expect records a state change to apply if reply seq succeeds.
func (c *conn) expect(ch stateChange) {
	c.stMu.Lock()
	c.pending = append(c.pending, ch)
	c.npend.Add(1)
	c.stMu.Unlock()
}

// dialPrimary connects to the current primary and replays the session,
// waiting up to PrimaryWait for a primary that answers.
func (c *conn) dialPrimary() (net.Conn, uint64, error) {
	s := c.srv
	deadline := time.Now().Add(s.cfg.PrimaryWait)
	var lastErr error
	for {
		addr, gen, changed := s.current()
		if addr != "" {
			nc, err := c.dialAndReplay(addr)
			if err == nil {
				return nc, gen, nil
			}
			s.m.dialErrors.Add(1)
			lastErr = err
		} else {
			lastErr = errors.New("no primary known yet")
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, 0, fmt.Errorf("cannot reach the primary: %w", lastErr)
		}
		select {
		case <-changed:
		case <-time.After(min(wait, 100*time.Millisecond)):
		}
	}
}

func (c *conn) dialAndReplay(addr string) (net.Conn, error) {
	s := c.srv
	nc, err := net.DialTimeout("tcp", addr, s.cfg.DialTimeout)
	if err != nil {
		return nil, err
	}
	c.stMu.Lock()
	st := c.st
	c.stMu.Unlock()
	var cmds [][]string
	if s.cfg.Password != "" {
		cmds = append(cmds, []string{"AUTH", s.cfg.Password})
	}
	if st.proto == 3 {
		cmds = append(cmds, []string{"HELLO", "3"})
	}
	if st.db != 0 {
		cmds = append(cmds, []string{"SELECT", strconv.Itoa(st.db)})
	}
	if st.name != nil {
		cmds = append(cmds, []string{"CLIENT", "SETNAME", string(st.name)})
	}
	if len(cmds) == 0 {
		return nc, nil
	}
	if err := replay(nc, cmds, time.Now().Add(s.cfg.DialTimeout)); err != nil {
		nc.Close()
		return nil, fmt.Errorf("cannot set up the session on %s: %w", addr, err)
	}
	return nc, nil
}

// replay sends cmds and checks that none of them failed.
func replay(nc net.Conn, cmds [][]string, deadline time.Time) error {
	if err := nc.SetDeadline(deadline); err != nil {
		return err
	}
	var out []byte
	for _, args := range cmds {
		out = append(out, '*')
		out = strconv.AppendInt(out, int64(len(args)), 10)
		out = append(out, "\r\n"...)
		for _, a := range args {
			out = append(out, '$')
			out = strconv.AppendInt(out, int64(len(a)), 10)
			out = append(out, "\r\n"...)
			out = append(out, a...)
			out = append(out, "\r\n"...)
		}
	}
	if _, err := nc.Write(out); err != nil {
		return err
	}
	br := bufio.NewReaderSize(nc, 4096)
	var buf []byte
	for i := 0; i < len(cmds); {
		n, err := resp.ReplyLen(buf)
		if errors.Is(err, resp.ErrIncomplete) {
			chunk := make([]byte, 4096)
			k, rerr := br.Read(chunk)
			if rerr != nil {
				return rerr
			}
			buf = append(buf, chunk[:k]...)
			continue
		}
		if err != nil {
			return err
		}
		if resp.IsError(buf[:n]) {
			return fmt.Errorf("%s refused: %s", cmds[i][0], firstLine(buf[:n]))
		}
		if resp.IsPush(buf[:n]) {
			buf = buf[n:]
			continue
		}
		buf = buf[n:]
		i++
	}
	return nc.SetDeadline(time.Time{})
}

func firstLine(b []byte) string {
	for i, ch := range b {
		if ch == '\r' {
			return string(b[1:i])
		}
	}
	return string(b)
}
