package proxy

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// takeover returns a non-blocking, close-on-exec descriptor of nc's socket
// and closes nc. The socket then belongs to an event loop only: left in Go's
// network poller too, every readiness would also wake the runtime's poller
// for nothing.
func takeover(nc net.Conn) (int, error) {
	defer nc.Close() // removes nc's own descriptor from Go's poller
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("cannot take over a %T: not a socket", nc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("cannot take over the socket: %w", err)
	}
	fd := -1
	var dupErr error
	err = raw.Control(func(s uintptr) {
		// CLOEXEC: redis-server and other children must not inherit it,
		// or a closed connection would stay open in them.
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	})
	if err == nil {
		err = dupErr
	}
	if err != nil {
		return -1, fmt.Errorf("cannot duplicate the socket: %w", err)
	}
	// The duplicate shares the open file, which Go made non-blocking; a
	// net.Conn from elsewhere may not be.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("cannot make the socket non-blocking: %w", err)
	}
	return fd, nil
}

// errAgain is what sysRead and sysWrite return when the socket is not ready.
var errAgain error = unix.EAGAIN

// sysRead reads once from a non-blocking socket: (0, nil) at the end of the
// stream, errAgain when nothing is there.
//
// RawSyscall, without telling the scheduler: a non-blocking read or write
// returns at once, and the bookkeeping of Syscall (entersyscall and
// exitsyscall) costs a quarter of a null system call, four times per
// forwarded command.
func sysRead(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, sysErr(e)
	}
	return int(r), nil
}

// sysWrite writes once to a non-blocking socket and returns how much it
// took; errAgain when it took nothing.
func sysWrite(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, sysErr(e)
	}
	return int(r), nil
}

// sysErr maps the errors after which the socket is still usable (the loop
// is told again when it is ready) to errAgain.
func sysErr(e unix.Errno) error {
	if e == unix.EAGAIN || e == unix.EINTR {
		return errAgain
	}
	return e
}
