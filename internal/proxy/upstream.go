package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/haredis/haredis/internal/resp"
)

func (c *conn) upstreamEvent(ev uint32) {
	if ev&unix.EPOLLOUT != 0 && c.fwdFrom < c.fwdTo {
		c.queueUpstreamWrite() // the rest of a short write
	}
	if c.ufd < 0 || ev&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
		return
	}
	if !c.outputPending() {
		c.queueUpstreamRead()
		return
	}
	if ev&(unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		// The client has not taken earlier replies; waiting for it would
		// make level-triggered epoll report the hang-up again and again.
		c.upstreamGone()
	}
}

// queueUpstreamRead reads replies; upstreamRead passes them on to the client
// at once (a large bulk reply as it arrives) and counts them.
func (c *conn) queueUpstreamRead() {
	size := c.srv.cfg.BufferSize
	// Nothing refers to ubuf before ur while nothing is pending for the
	// client, which is when the upstream is read.
	if c.ur == c.uw {
		c.ur, c.uw = 0, 0
		if len(c.ubuf) > 4*size {
			c.ubuf = make([]byte, size)
		}
	} else if c.uw == len(c.ubuf) {
		if c.ur > 0 {
			c.uw = copy(c.ubuf, c.ubuf[c.ur:c.uw])
			c.ur = 0
		} else {
			nb := make([]byte, 2*len(c.ubuf))
			copy(nb, c.ubuf[:c.uw])
			c.ubuf = nb
		}
	}
	c.l.queue(c, ioReadUpstream, c.ufd, c.ubuf[c.uw:])
}

func (c *conn) upstreamRead(fd, n int, err error) {
	if c.cfd < 0 || fd != c.ufd || err == errAgain || err == errSkipped {
		return
	}
	if n == 0 || err != nil {
		c.upstreamGone()
		return
	}
	from := c.uw
	c.uw += n
	replies, ok := c.frameReplies(c.srv.cfg.BufferSize)
	if !ok {
		return
	}
	c.recv += replies
	c.outFrom, c.outTo = from, c.uw
	c.queueClientWrite()
}

// frameReplies counts the complete replies in ubuf[ur:uw] and moves ur past
// them; false when the upstream sent something that is not RESP (the
// connection is then closed).
func (c *conn) frameReplies(size int) (int64, bool) {
	replies := int64(0)
	if c.skip > 0 {
		k := min(c.skip, c.uw-c.ur)
		c.skip -= k
		c.ur += k
		if c.skip == 0 {
			replies++ // a bulk string: not a push, not an error
		}
	}
	for c.skip == 0 && c.ur < c.uw {
		b := c.ubuf[c.ur:c.uw]
		k, err := resp.ReplyLen(b)
		if errors.Is(err, resp.ErrIncomplete) {
			if total := largeBulkLen(b, size); total > 0 {
				c.skip = total - len(b)
				c.ur = c.uw
			}
			break
		}
		if err != nil {
			c.srv.cfg.Log.Info("closing connection on a malformed reply", "error", err.Error())
			c.close("")
			return 0, false
		}
		if !resp.IsPush(b[:k]) {
			replies++
			if len(c.pending) > 0 {
				c.applyState(c.recv+replies, resp.IsError(b[:k]))
			}
		}
		c.ur += k
	}
	return replies, true
}

// upstreamGone closes the upstream socket. The client goes too when replies
// were lost or it holds state no other server has; otherwise it stays, and
// its next command dials the current primary.
func (c *conn) upstreamGone() {
	if c.ufd < 0 {
		return
	}
	c.l.closeFD(c.ufd)
	c.ufd, c.umask = -1, 0
	c.ur, c.skip = c.uw, 0 // a partial reply will never end; output pending stays
	if c.recv < c.sent || c.sticky {
		c.close("")
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
	for len(c.pending) > 0 && c.pending[0].seq <= seq {
		ch := c.pending[0]
		c.pending = c.pending[1:]
		if ch.seq != seq {
			continue
		}
		if isErr {
			if ch.kind == stAuth && ch.user != nil {
				c.setAuthed(ch.wasAuthed) // refused: the session is what it was
			}
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
		case stAuth:
			c.st.user, c.st.pass = ch.user, ch.pass
			if ch.user != nil {
				c.setAuthed(true)
			}
		}
	}
}

// expect records a state change to apply if reply seq succeeds.
func (c *conn) expect(ch stateChange) {
	c.pending = append(c.pending, ch)
}

// startDial connects to the current primary in a goroutine, since that can
// wait for up to PrimaryWait; the run waits meanwhile and dialDone, on the
// loop, picks up from there.
func (c *conn) startDial() {
	c.dialing = true
	st, l, s := c.st, c.l, c.srv
	go func() {
		fd, br, gen, err := s.dialPrimary(st)
		if !l.post(func() { c.dialDone(fd, br, gen, err) }) && fd >= 0 {
			unix.Close(fd)
		}
	}()
}

// dialDone takes the upstream socket fd, br its TLS bridge (nil for a plain
// socket); closing fd without registering it ends the bridge too.
func (c *conn) dialDone(fd int, br *bridge, gen uint64, err error) {
	c.dialing = false
	if c.cfd < 0 {
		if fd >= 0 {
			unix.Close(fd)
		}
		return
	}
	switch {
	case err != nil:
		c.runCount = 0
		c.local, c.closeAfter = "-ERR haredis: "+err.Error()+"\r\n", true
	case gen != c.srv.gen.Load():
		// The primary changed while dialling: the run must go to the new one.
		unix.Close(fd)
		c.startDial()
		return
	default:
		if err := c.l.register(fd, c, br, unix.EPOLLIN); err != nil {
			unix.Close(fd)
			c.close(err.Error())
			return
		}
		c.ufd, c.upGen, c.umask = fd, gen, unix.EPOLLIN
		if c.connected {
			c.srv.m.moved.Add(1)
		}
		c.connected = true
	}
	c.l.touch(c)
	c.processClient()
}

// dialPrimary connects to the current primary and replays the session,
// waiting up to PrimaryWait for a primary that answers. It returns the
// socket, ready for a loop, its TLS bridge (nil without TLS), and the
// generation of the primary.
func (s *Server) dialPrimary(st sessionState) (int, *bridge, uint64, error) {
	deadline := time.Now().Add(s.cfg.PrimaryWait)
	var lastErr error
	for {
		addr, gen, changed := s.current()
		if addr != "" {
			nc, err := s.dialAndReplay(addr, st)
			if err == nil {
				fd, br, err := s.loopSocket(nc)
				return fd, br, gen, err
			}
			s.m.dialErrors.Add(1)
			lastErr = err
		} else {
			lastErr = errors.New("no primary known yet")
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return -1, nil, 0, fmt.Errorf("cannot reach the primary: %w", lastErr)
		}
		select {
		case <-changed:
		case <-time.After(min(wait, 100*time.Millisecond)):
		}
	}
}

func (s *Server) dialAndReplay(addr string, st sessionState) (net.Conn, error) {
	nc, err := s.dialUpstream(addr)
	if err != nil {
		return nil, err
	}
	var cmds [][]string
	switch {
	case st.user != nil:
		cmds = append(cmds, []string{"AUTH", string(st.user), string(st.pass)})
	case s.cfg.Password != "" && s.previousPassword() != "":
		// During a rotation the instance may not have read the new
		// password yet: the previous one then.
		deadline := time.Now().Add(s.cfg.DialTimeout)
		err := replay(nc, [][]string{{"AUTH", s.password()}}, deadline)
		if err != nil && strings.Contains(err.Error(), "WRONGPASS") {
			err = replay(nc, [][]string{{"AUTH", s.previousPassword()}}, deadline)
		}
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("cannot set up the session on %s: %w", addr, err)
		}
	case s.cfg.Password != "":
		cmds = append(cmds, []string{"AUTH", s.password()})
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
