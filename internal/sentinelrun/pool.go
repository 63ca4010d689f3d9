package sentinelrun

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
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
	// Taught are master sections (RenderTaught) the operator hands the
	// pool's sentinels; each is written when Previous lacks its master.
	Taught []string
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
	carried := map[string]bool{}
	for _, l := range strings.Split(p.Previous, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && strings.EqualFold(f[0], "sentinel") && perMaster[strings.ToLower(f[1])] {
			line("%s", strings.TrimSpace(l))
			if strings.EqualFold(f[1], "monitor") {
				carried[f[2]] = true
			}
		}
	}
	for _, section := range p.Taught {
		name, lines, err := ParseTaught(section)
		if err != nil || carried[name] {
			continue
		}
		carried[name] = true
		for _, l := range lines {
			// The section names every sentinel of the pool; this one is
			// not its own peer.
			if f := strings.Fields(l); strings.EqualFold(f[1], "known-sentinel") && len(f) == 6 && strings.EqualFold(f[5], p.MyID) {
				continue
			}
			line("%s", l)
		}
	}
	return b.String(), nil
}

// PoolSentinelID is the run id of pool sentinel podName announced as
// host: the same at every start, and known to the operator, which names
// the pool's sentinels to each other in a taught master.
func PoolSentinelID(host, podName string) string { return MyID("pool/"+host, podName) }

// Taught is a master a pool sentinel starts with when its previous file
// lacks it. A pool's sentinels learn a RedisFailover's replicas only from
// its running primary; for one whose recorded primary waits for a failover
// they never heard of a replica to make, the operator hands them this
// section, which names every replica and every sentinel of the pool, as a
// dedicated sentinel's file does, and restarts them one at a time.
type Taught struct {
	Master         sentinel.Monitored
	KnownReplicas  []Addr
	KnownSentinels []Peer
}

// RenderTaught returns t as sentinel.conf lines.
func RenderTaught(t Taught) (string, error) {
	m := t.Master
	p := Params{MasterName: m.MasterName, PrimaryHost: m.Host, PrimaryPort: m.Port, Quorum: m.Quorum,
		AuthUser: m.AuthUser, AuthPass: m.AuthPass, DownAfter: m.DownAfter, FailoverTimeout: m.FailoverTimeout,
		KnownReplicas: t.KnownReplicas, KnownSentinels: t.KnownSentinels}
	if err := p.validateMaster(); err != nil {
		return "", err
	}
	var b strings.Builder
	masterLines(func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }, p)
	return b.String(), nil
}

// taughtDirectives are the directives a taught section may hold.
var taughtDirectives = map[string]bool{
	"monitor": true, "auth-user": true, "auth-pass": true, "down-after-milliseconds": true,
	"failover-timeout": true, "parallel-syncs": true, "known-replica": true, "known-sentinel": true,
}

// ParseTaught checks a taught section: a monitor line first, then only
// directives of that one master. It returns the master's name and the
// lines.
func ParseTaught(section string) (name string, lines []string, err error) {
	for i, l := range strings.Split(strings.TrimSpace(section), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) < 4 || !strings.EqualFold(f[0], "sentinel") || !taughtDirectives[strings.ToLower(f[1])]:
			return "", nil, fmt.Errorf("line %d is no directive of a taught master", i+1)
		case i == 0 && !strings.EqualFold(f[1], "monitor"):
			return "", nil, errors.New("the first line is not sentinel monitor")
		case i == 0:
			name = f[2]
		case f[2] != name || strings.EqualFold(f[1], "monitor"):
			return "", nil, fmt.Errorf("line %d is about another master than %s", i+1, name)
		}
		lines = append(lines, strings.Join(f, " "))
	}
	return name, lines, nil
}

// ReadTaught reads the taught sections in dir (the mounted Secret, one
// file per master; a missing dir holds none), by master name.
func ReadTaught(dir string) (map[string]string, error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the taught masters in %s: %w", dir, err)
	}
	out := map[string]string{}
	for _, e := range entries {
		// A kubelet keeps a Secret's files behind ..data and dated
		// directories; the keys are the other names.
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("cannot read taught master %s: %w", e.Name(), err)
		}
		out[e.Name()] = string(b)
	}
	return out, nil
}

// PoolOptions of `haredis sentinel pool`.
type PoolOptions struct {
	// PasswordFile holds the pool's admin password.
	PasswordFile string
	// RunDir is the writable directory of sentinel.conf.
	RunDir string
	// TaughtDir holds the taught masters (the pool's masters Secret).
	TaughtDir        string
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
	taught, err := ReadTaught(o.TaughtDir)
	if err != nil {
		return err
	}
	var sections []string
	for _, file := range slices.Sorted(maps.Keys(taught)) {
		name, _, err := ParseTaught(taught[file])
		if err != nil {
			o.Log.Warn("ignoring a taught master", "file", file, "error", err.Error())
			continue
		}
		o.Log.Info("a taught master, used unless the previous file has it", "master", name)
		sections = append(sections, taught[file])
	}
	conf, err := RenderPool(PoolParams{Port: o.Port, AnnounceHostname: o.AnnounceHostname,
		MyID: PoolSentinelID(o.AnnounceHostname, o.PodName), Password: password, Previous: string(previous), Taught: sections})
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
