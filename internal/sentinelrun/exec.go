package sentinelrun

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/atomicfile"
	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/engine"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/secretfile"
	"github.com/haredis/haredis/internal/sentinel"
)

// Options of `haredis sentinel run`, as its flags give them.
type Options struct {
	// ConfigPath is instance.json of the RedisFailover.
	ConfigPath string
	// PasswordFile holds the password (read when auth is on).
	PasswordFile string
	// SentinelUserPasswordFile holds the sentinel user's password, read
	// when instance.json turns ACL users on.
	SentinelUserPasswordFile string
	// PreviousPasswordHashFile holds, while a rotation of the application
	// password lasts, the SHA-256 of the password it replaces (read when
	// instance.json turns ACL users on; empty or missing otherwise).
	PreviousPasswordHashFile string
	// RunDir is the writable directory of sentinel.conf, which Sentinel
	// rewrites with its epochs and votes.
	RunDir           string
	PodName          string
	AnnounceHostname string
	// Binary is the sentinel executable (a name looked up in PATH, or a
	// path); when empty, valkey-sentinel or redis-sentinel, whichever the
	// image has (Valkey first).
	Binary          string
	Port            int
	Quorum          int
	DownAfter       time.Duration
	FailoverTimeout time.Duration
	// TLSDir is the mounted certificate Secret, used when instance.json
	// turns TLS on (certs.MountDir when empty).
	TLSDir string
	// CertCheckInterval is how often, with TLS, the certificate files are
	// checked for a renewal (5 s when 0).
	CertCheckInterval time.Duration
	// StopTimeout bounds, with TLS, a graceful stop of redis-sentinel
	// before it is killed (10 s when 0).
	StopTimeout time.Duration
	// Output receives redis-sentinel's log when it runs as a child (with
	// TLS); os.Stdout when nil.
	Output *os.File
	Log    *slog.Logger
}

// Run renders sentinel.conf for this start (Prepare) over the file the
// previous start left, and replaces the process with redis-sentinel. It
// returns only on an error.
//
// With TLS (instance.json's tls), it runs redis-sentinel as its child
// instead, and restarts it on the file Sentinel rewrote when the mounted
// certificate is renewed (see superviseTLS): Sentinel reads its
// certificate only at start. It then returns nil once ctx ends and
// redis-sentinel stopped, and an error when redis-sentinel exits by itself.
func Run(ctx context.Context, o Options) error {
	cfg, err := instanceconfig.Load(o.ConfigPath)
	if err != nil {
		return err
	}
	tlsDir := ""
	if cfg.TLS {
		if tlsDir = o.TLSDir; tlsDir == "" {
			tlsDir = certs.MountDir
		}
	}
	password := ""
	if cfg.AuthEnabled {
		if password, err = secretfile.Read(o.PasswordFile); err != nil {
			return fmt.Errorf("cannot read the password: %w", err)
		}
	}
	authUser, authPass, previousHash := "", "", ""
	if cfg.AuthEnabled && cfg.ACLUsers {
		if authPass, err = secretfile.Read(o.SentinelUserPasswordFile); err != nil {
			return fmt.Errorf("cannot read the sentinel user's password: %w", err)
		}
		authUser = acl.SentinelUser
		if previousHash, err = acl.ReadPreviousHash(o.PreviousPasswordHashFile); err != nil {
			return err
		}
	}
	path := filepath.Join(o.RunDir, "sentinel.conf")
	// The file a previous start left (a container restart in the same
	// pod): Sentinel rewrote it with its epochs and votes.
	previous, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot read the previous sentinel.conf: %w", err)
	}
	conf, _, err := Prepare(ctx, Inputs{
		Config: cfg, PodName: o.PodName, AnnounceHostname: o.AnnounceHostname, Port: o.Port, TLSDir: tlsDir, Password: password,
		AuthUser: authUser, AuthPass: authPass, PreviousPasswordHash: previousHash,
		Quorum: o.Quorum, DownAfter: o.DownAfter, FailoverTimeout: o.FailoverTimeout, Previous: string(previous), Log: o.Log,
	})
	if err != nil {
		return err
	}
	// Replaced atomically: a container killed while writing leaves the
	// previous file, and with it the sentinel's votes.
	if err := atomicfile.Write(path, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("cannot write sentinel.conf: %w", err)
	}
	bin, err := sentinelBinary(o.Binary)
	if err != nil {
		return err
	}
	if tlsDir != "" {
		files := certs.NewFiles(tlsDir)
		self := net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port))
		busy := func(ctx context.Context) bool {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return sentinel.AskOne(cctx, self, sentinel.Access{Password: password, TLS: files.ClientConfig()}, cfg.MasterName).InFailover
		}
		return superviseTLS(ctx, o, bin, path, files, restartDelay(o.PodName), busy)
	}
	o.Log.Info("starting the sentinel", "binary", bin, "config", path)
	// exec, not a child: redis-sentinel gets the container's signals
	// directly, and when it exits the kubelet restarts the container,
	// which renders the file again from the peers' current view.
	if err := syscall.Exec(bin, []string{bin, path, "--sentinel"}, os.Environ()); err != nil {
		return fmt.Errorf("cannot exec %s: %w", bin, err)
	}
	return nil
}

// sentinelBinary is the path of the sentinel executable name (a name
// looked up in PATH, or a path); when empty, valkey-sentinel or
// redis-sentinel, whichever the image has (Valkey first).
func sentinelBinary(name string) (string, error) {
	if name == "" {
		e, err := engine.Installed(exec.LookPath)
		if err != nil {
			return "", err
		}
		name = engine.BinariesOf(e).Sentinel
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("cannot find %s: %w", name, err)
	}
	return bin, nil
}
