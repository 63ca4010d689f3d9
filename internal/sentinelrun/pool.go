package sentinelrun

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/haredis/haredis/internal/atomicfile"
	"github.com/haredis/haredis/internal/secretfile"
	"github.com/haredis/haredis/internal/sentinel"
)

// PoolParams of a pool sentinel's sentinel.conf.
type PoolParams struct {
	Port int
	// AnnounceHostname is the sentinel's own stable DNS name.
	AnnounceHostname string
	// MyID keeps the sentinel's identity across restarts.
	MyID string
	// Password is the pool's admin password: the admin user's, and what
	// the pool's sentinels give each other.
	Password string
	// Previous is the sentinel.conf this sentinel's previous start left
	// (Sentinel rewrites it with its masters and epochs); its masters are
	// carried over.
	Previous string
}

// perMaster are the sentinel.conf directives that belong to one master, as
// Sentinel writes them when it rewrites its file, and current-epoch.
var perMaster = map[string]bool{
	"monitor": true, "down-after-milliseconds": true, "failover-timeout": true, "parallel-syncs": true,
	"auth-user": true, "auth-pass": true, "config-epoch": true, "leader-epoch": true,
	"known-replica": true, "known-slave": true, "known-sentinel": true, "current-epoch": true,
	"master-reboot-down-after-period": true, "quorum": true,
}

// RenderPool returns a pool sentinel's sentinel.conf: haredis's global
// settings, written anew at each start, then the masters (and the voting
// memory) of the previous file, in its order. A new pod monitors nothing
// until the operator registers the RedisFailovers the pool serves.
func RenderPool(p PoolParams) (string, error) {
	if p.Password == "" || strings.ContainsAny(p.Password, " \t\r\n\"'") {
		return "", errors.New("cannot render sentinel.conf: the pool's password is empty or contains a space, quote or line break")
	}
	if p.AnnounceHostname == "" || strings.ContainsAny(p.AnnounceHostname, " \t\r\n\"'") {
		return "", errors.New("cannot render sentinel.conf: the announce hostname is empty or contains a space, quote or line break")
	}
	if !isRunID(p.MyID) || p.Port < 1 {
		return "", fmt.Errorf("cannot render sentinel.conf: myid %q is not 40 hex digits, or the port is not positive", p.MyID)
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# Rendered by haredis sentinel pool at every start; the masters below are carried over from the previous file.")
	line("port %d", p.Port)
	identity(line, p.AnnounceHostname, p.Port, p.MyID)
	line("user default on nopass %s", sentinel.PoolReaderRules)
	line("user %s on >%s ~* &* +@all", sentinel.PoolAdminUser, p.Password)
	// The pool's sentinels authenticate each other as the admin user, so
	// that no sentinel outside the pool joins it.
	line("sentinel sentinel-user %s", sentinel.PoolAdminUser)
	line("sentinel sentinel-pass %s", p.Password)
	for _, l := range strings.Split(p.Previous, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && strings.EqualFold(f[0], "sentinel") && perMaster[strings.ToLower(f[1])] {
			line("%s", strings.TrimSpace(l))
		}
	}
	return b.String(), nil
}

// PoolOptions of `haredis sentinel pool`.
type PoolOptions struct {
	// PasswordFile holds the pool's admin password.
	PasswordFile string
	// RunDir is the writable directory of sentinel.conf.
	RunDir           string
	PodName          string
	AnnounceHostname string
	// Binary is the sentinel executable; valkey-sentinel or
	// redis-sentinel, whichever the image has, when empty.
	Binary string
	Port   int
	Log    *slog.Logger
}

// RunPool renders a pool sentinel's sentinel.conf over the file the
// previous start left and replaces the process with redis-sentinel. It
// returns only on an error.
func RunPool(o PoolOptions) error {
	password, err := secretfile.Read(o.PasswordFile)
	if err != nil {
		return fmt.Errorf("cannot read the pool's password: %w", err)
	}
	path := filepath.Join(o.RunDir, "sentinel.conf")
	previous, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot read the previous sentinel.conf: %w", err)
	}
	conf, err := RenderPool(PoolParams{Port: o.Port, AnnounceHostname: o.AnnounceHostname,
		MyID: MyID("pool/"+o.AnnounceHostname, o.PodName), Password: password, Previous: string(previous)})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("cannot write sentinel.conf: %w", err)
	}
	bin, err := sentinelBinary(o.Binary)
	if err != nil {
		return err
	}
	o.Log.Info("starting the pool sentinel", "binary", bin, "config", path, "carriedOver", len(previous) > 0)
	if err := syscall.Exec(bin, []string{bin, path, "--sentinel"}, os.Environ()); err != nil {
		return fmt.Errorf("cannot exec %s: %w", bin, err)
	}
	return nil
}
