package proxy

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func newRingOrSkip(t *testing.T, entries uint32) *uring {
	t.Helper()
	r, err := newURing(entries)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	t.Cleanup(r.close)
	return r
}

func socketPair(t *testing.T) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// TestURingRound checks the batcher on its own: results land on the right
// operations, an empty socket gives errAgain instead of waiting, a closed
// peer gives end of stream, and rounds larger than the ring are split.
func TestURingRound(t *testing.T) {
	r := newRingOrSkip(t, 4)
	const pairs = 10 // more operations than entries
	a := make([]int, pairs)
	b := make([]int, pairs)
	for i := range pairs {
		a[i], b[i] = socketPair(t)
	}
	ops := make([]ioOp, 0, pairs)
	for i := range pairs {
		ops = append(ops, ioOp{kind: ioWriteClient, fd: a[i], buf: bytes.Repeat([]byte{byte('a' + i)}, i+1)})
	}
	if err := r.run(ops); err != nil {
		t.Fatal(err)
	}
	for i, op := range ops {
		if !op.done || op.err != nil || op.n != i+1 {
			t.Fatalf("send %d: done=%v n=%d err=%v", i, op.done, op.n, op.err)
		}
	}
	unix.Close(a[3]) // end of stream on b[3] once its byte(s) are read
	ops = ops[:0]
	bufs := make([][]byte, pairs)
	for i := range pairs {
		bufs[i] = make([]byte, 64)
		ops = append(ops, ioOp{kind: ioReadClient, fd: b[i], buf: bufs[i]})
	}
	if err := r.run(ops); err != nil {
		t.Fatal(err)
	}
	for i, op := range ops {
		if op.err != nil || op.n != i+1 || !bytes.Equal(bufs[i][:op.n], bytes.Repeat([]byte{byte('a' + i)}, i+1)) {
			t.Fatalf("recv %d: n=%d err=%v data=%q", i, op.n, op.err, bufs[i][:max(op.n, 0)])
		}
	}
	ops = []ioOp{
		{kind: ioReadClient, fd: b[0], buf: bufs[0]}, // nothing there
		{kind: ioReadClient, fd: b[3], buf: bufs[3]}, // peer closed
		{kind: ioReadClient, fd: b[5], buf: bufs[5], done: true, err: errSkipped},
	}
	if err := r.run(ops); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(ops[0].err, errAgain) {
		t.Errorf("recv on an empty socket: n=%d err=%v, want errAgain", ops[0].n, ops[0].err)
	}
	if ops[1].err != nil || ops[1].n != 0 {
		t.Errorf("recv after the peer closed: n=%d err=%v, want end of stream", ops[1].n, ops[1].err)
	}
	if ops[2].err != errSkipped {
		t.Errorf("an operation marked done was performed: %v", ops[2].err)
	}
}

// TestURingShortSend fills a socket: the send takes what fits, the next one
// gives errAgain, and neither waits.
func TestURingShortSend(t *testing.T) {
	r := newRingOrSkip(t, 8)
	a, _ := socketPair(t)
	big := make([]byte, 16<<20)
	ops := []ioOp{{kind: ioWriteClient, fd: a, buf: big}, {kind: ioWriteClient, fd: a, buf: big}}
	if err := r.run(ops); err != nil {
		t.Fatal(err)
	}
	if ops[0].err != nil || ops[0].n <= 0 || ops[0].n >= len(big) {
		t.Fatalf("first send: n=%d err=%v, want a short write", ops[0].n, ops[0].err)
	}
	if !errors.Is(ops[1].err, errAgain) {
		t.Fatalf("send to a full socket: n=%d err=%v, want errAgain", ops[1].n, ops[1].err)
	}
}
