package instance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/haredis/haredis/internal/bootrole"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redisconf"
	"github.com/haredis/haredis/internal/supervise"
)

// Options configure a Manager.
type Options struct {
	Config *instanceconfig.Config
	// Self is this instance's name (POD_NAME).
	Self         string
	PodIP        string
	PasswordFile string
	DataDir      string
	RunDir       string
	RedisPort    int
	// Bind addresses of redis-server; redisconf.DefaultBind when empty.
	Bind []string
	// HTTPListen is the address of the HTTP API; ":0" picks a port.
	HTTPListen string
	// RedisServer is the redis-server binary ("redis-server" from PATH).
	RedisServer string
	// BootWait bounds how long a recorded primary waits for unreachable
	// peers before booting (never the wait for a failover).
	BootWait time.Duration
	// DecideInterval is the pause between two boot decisions while waiting.
	DecideInterval time.Duration
	// StopTimeout bounds a clean shutdown of redis-server before SIGKILL.
	StopTimeout time.Duration
	// ValidateTimeout bounds a throwaway redis-server that checks a group.
	ValidateTimeout time.Duration
	// RedisOutput receives redis-server's log (os.Stdout when nil: the
	// container log).
	RedisOutput *os.File
	Reaper      *supervise.Reaper
	Log         *slog.Logger
}

func (o *Options) setDefaults() {
	if o.RedisServer == "" {
		o.RedisServer = "redis-server"
	}
	if o.BootWait == 0 {
		o.BootWait = 30 * time.Second
	}
	if o.DecideInterval == 0 {
		o.DecideInterval = time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 30 * time.Second
	}
	if o.ValidateTimeout == 0 {
		o.ValidateTimeout = 10 * time.Second
	}
	if o.RedisOutput == nil {
		o.RedisOutput = os.Stdout
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Reaper == nil {
		o.Reaper = supervise.NewReaper(false, o.Log)
	}
}

// Manager supervises one redis-server.
type Manager struct {
	opts Options
	cfg  *instanceconfig.Config
	log  *slog.Logger

	// cfgMu serializes changes of the parameter group.
	cfgMu sync.Mutex

	mu          sync.Mutex
	phase       string
	proc        *supervise.Process
	restarts    int
	decision    *DecisionRecord
	observed    observed
	group       GroupState
	httpAddr    string
	redisClient *redisConn
	// durability in force: instance.json's, until PUT /config changes it.
	durability Durability
}

// Durability is min-replicas-to-write and min-replicas-max-lag.
type Durability struct {
	MinReplicasToWrite int `json:"minReplicasToWrite"`
	MaxLagSeconds      int `json:"maxLagSeconds"`
}

// DecisionRecord is the last boot decision with the facts it was made on.
type DecisionRecord struct {
	bootrole.Decision
	Facts bootrole.Facts `json:"facts"`
	At    time.Time      `json:"at"`
}

// Phases of the manager.
const (
	PhaseDeciding = "deciding"
	PhaseWaiting  = "waiting"
	PhaseStarting = "starting"
	PhaseRunning  = "running"
	PhaseBackoff  = "backoff"
	PhaseStopping = "stopping"
)

// New checks the options and prepares a Manager.
func New(opts Options) (*Manager, error) {
	opts.setDefaults()
	if opts.Config == nil {
		return nil, errors.New("cannot create the instance manager: no instance config")
	}
	if !opts.Config.HasInstance(opts.Self) {
		return nil, fmt.Errorf("cannot create the instance manager: %q (POD_NAME) is not one of the instances %v", opts.Self, opts.Config.Instances)
	}
	if opts.DataDir == "" || opts.RunDir == "" {
		return nil, errors.New("cannot create the instance manager: data dir and run dir must be set")
	}
	// redis-server runs in the data dir: every path must be absolute.
	for _, p := range []*string{&opts.DataDir, &opts.RunDir, &opts.PasswordFile} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, fmt.Errorf("cannot create the instance manager: %w", err)
		}
		*p = abs
	}
	m := &Manager{opts: opts, cfg: opts.Config, log: opts.Log.With("instance", opts.Self), phase: PhaseDeciding,
		durability: Durability{MinReplicasToWrite: opts.Config.MinReplicasToWrite, MaxLagSeconds: opts.Config.MinReplicasMaxLagSeconds}}
	m.redisClient = newRedisConn(m.localAddr(), m.password)
	return m, nil
}

// Durability returns min-replicas-to-write and min-replicas-max-lag in
// force.
func (m *Manager) Durability() Durability {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.durability
}

// HTTPAddr is the address the HTTP API listens on, once Run has started it.
func (m *Manager) HTTPAddr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.httpAddr
}

func (m *Manager) localAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.opts.RedisPort))
}

// password reads the password file at each use, so that a rotated Secret is
// picked up at the next start of redis-server.
func (m *Manager) password() (string, error) {
	if !m.cfg.AuthEnabled {
		return "", nil
	}
	b, err := os.ReadFile(m.opts.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("cannot read the password: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", errors.New("cannot read the password: the password file is empty")
	}
	return p, nil
}

func (m *Manager) setPhase(p string) {
	m.mu.Lock()
	m.phase = p
	m.mu.Unlock()
}

// Run decides the boot role, runs redis-server, restarts it when it dies and
// serves HTTP, until ctx is cancelled; then it stops redis-server cleanly.
func (m *Manager) Run(ctx context.Context) error {
	for _, d := range []string{m.opts.RunDir, stateDir(m.opts.DataDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("cannot create %s: %w", d, err)
		}
	}
	if err := m.loadGroup(ctx); err != nil {
		return err
	}
	srv, err := m.serveHTTP()
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go m.pollLoop(ctx)

	crashes := 0
	for {
		d, err := m.decide(ctx)
		if err != nil {
			return nil // cancelled while deciding: nothing runs
		}
		proc, err := m.startRedis(d)
		if err == nil {
			select {
			case <-proc.Done():
				m.log.Warn("redis-server exited", "pid", proc.Pid, "how", proc.ExitString(),
					"ran", time.Since(proc.Started).Round(time.Millisecond).String())
				if time.Since(proc.Started) > time.Minute {
					crashes = 0
				}
			case <-ctx.Done():
				m.stopRedis(proc)
				return nil
			}
		} else {
			m.log.Error("cannot start redis-server", "err", err)
		}
		m.mu.Lock()
		m.restarts++
		m.proc = nil
		m.mu.Unlock()
		m.observe(observed{})
		delay := backoff(crashes)
		crashes++
		m.setPhase(PhaseBackoff)
		m.log.Info("restarting redis-server after a back-off", "delay", delay.String(), "restarts", m.restartCount())
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil
		}
	}
}

func (m *Manager) restartCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.restarts
}

// backoff is 0 for the first crash, so that a replica is back at once, then
// doubles from 1 s up to 30 s.
func backoff(crashes int) time.Duration {
	if crashes == 0 {
		return 0
	}
	d := time.Second << (crashes - 1)
	if d > 30*time.Second || d <= 0 {
		d = 30 * time.Second
	}
	return d
}

// decide gathers facts and applies bootrole.Decide until it says primary or
// replica. While it waits, redis-server is not running, so nothing can
// write to this instance.
func (m *Manager) decide(ctx context.Context) (bootrole.Decision, error) {
	m.setPhase(PhaseDeciding)
	began := time.Now()
	var lastReason string
	for {
		facts := m.gatherFacts(ctx)
		facts.Waited = time.Since(began)
		facts.MaxWait = m.opts.BootWait
		d := bootrole.Decide(facts)
		m.mu.Lock()
		m.decision = &DecisionRecord{Decision: d, Facts: facts, At: time.Now()}
		m.mu.Unlock()
		if d.Reason != lastReason || d.Action != bootrole.Wait {
			// One line per decision, with the facts it was made on.
			m.log.Info("boot decision", "action", string(d.Action), "master", d.Master, "masterAddr", d.MasterAddr,
				"recorded", d.Recorded, "recordedBy", d.RecordedBy, "reason", d.Reason, "facts", facts)
			lastReason = d.Reason
		}
		if d.Action != bootrole.Wait {
			return d, nil
		}
		m.setPhase(PhaseWaiting)
		select {
		case <-time.After(m.opts.DecideInterval):
		case <-ctx.Done():
			return d, ctx.Err()
		}
	}
}

// startRedis renders redis.conf for the decision and starts redis-server.
func (m *Manager) startRedis(d bootrole.Decision) (*supervise.Process, error) {
	m.setPhase(PhaseStarting)
	pw, err := m.password()
	if err != nil {
		return nil, err
	}
	in := m.renderInput(pw, m.bootGroup())
	if d.Action == bootrole.Replica {
		host, port, err := m.masterAddress(d)
		if err != nil {
			return nil, err
		}
		in.ReplicaOfHost, in.ReplicaOfPort = host, port
	}
	conf, err := redisconf.Render(in)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(m.opts.RunDir, "redis.conf")
	if err := writeFileAtomic(path, conf, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(m.opts.RedisServer, path)
	cmd.Stdout, cmd.Stderr = m.opts.RedisOutput, m.opts.RedisOutput
	cmd.Dir = m.opts.DataDir
	proc, err := m.opts.Reaper.Start(cmd)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.proc = proc
	m.mu.Unlock()
	m.bootStarted(in.Group)
	m.log.Info("redis-server started", "pid", proc.Pid, "role", string(d.Action), "replicaof",
		net.JoinHostPort(in.ReplicaOfHost, strconv.Itoa(in.ReplicaOfPort)), "configHash", redisconf.Hash(in.Group))
	m.setPhase(PhaseRunning)
	return proc, nil
}

func (m *Manager) renderInput(password string, group map[string]string) redisconf.Input {
	host, port := m.cfg.Address(m.opts.Self, m.opts.RedisPort)
	d := m.Durability()
	return redisconf.Input{
		Persistence:              m.cfg.Persistence,
		Group:                    group,
		MinReplicasToWrite:       d.MinReplicasToWrite,
		MinReplicasMaxLagSeconds: d.MaxLagSeconds,
		Port:                     m.opts.RedisPort,
		Bind:                     m.opts.Bind,
		DataDir:                  m.opts.DataDir,
		Password:                 password,
		AnnounceHost:             host,
		AnnouncePort:             port,
	}
}

// masterAddress is where to replicate from: the address the sentinels gave,
// else the instance's stable address.
func (m *Manager) masterAddress(d bootrole.Decision) (string, int, error) {
	if d.MasterAddr != "" {
		h, ps, err := net.SplitHostPort(d.MasterAddr)
		if err == nil {
			if p, err := strconv.Atoi(ps); err == nil {
				return h, p, nil
			}
		}
	}
	h, p := m.cfg.Address(d.Master, m.opts.RedisPort)
	if h == "" {
		return "", 0, fmt.Errorf("cannot find the address of %s", d.Master)
	}
	return h, p, nil
}

// stopRedis shuts redis-server down the way SHUTDOWN does (SIGTERM: a
// primary waits up to shutdown-timeout for its replicas to catch up, data
// is saved per the persistence mode), then kills it after StopTimeout.
func (m *Manager) stopRedis(proc *supervise.Process) {
	m.setPhase(PhaseStopping)
	m.log.Info("stopping redis-server", "pid", proc.Pid)
	_ = proc.Signal(syscall.SIGTERM)
	select {
	case <-proc.Done():
		m.log.Info("redis-server stopped", "pid", proc.Pid, "how", proc.ExitString())
	case <-time.After(m.opts.StopTimeout):
		m.log.Warn("redis-server did not stop in time; killing it", "pid", proc.Pid, "timeout", m.opts.StopTimeout.String())
		_ = proc.SignalGroup(syscall.SIGKILL)
		<-proc.Done()
	}
	m.mu.Lock()
	m.proc = nil
	m.mu.Unlock()
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}
