package instance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/haredis/haredis/internal/engine"
	"github.com/haredis/haredis/internal/secretfile"

	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/atomicfile"

	"github.com/haredis/haredis/internal/bootrole"
	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redisconf"
	"github.com/haredis/haredis/internal/supervise"
)

// Options configure a Manager.
type Options struct {
	Config *instanceconfig.Config
	// ConfigPath is where Config came from: it is read again before every
	// boot decision and every few seconds (a mounted ConfigMap is updated in
	// place), so that a changed member list counts. Empty: never re-read.
	ConfigPath string
	// Self is this instance's name (POD_NAME).
	Self         string
	PodIP        string
	PasswordFile string
	// InternalPasswordsDir holds the internal users' passwords (files
	// named by the acl package's keys), read when instance.json turns
	// ACL users on.
	InternalPasswordsDir string
	// TokenFile holds the credential every request to the HTTP API but the
	// probes must carry (the operator's manager token). Without it the API
	// refuses everything but the probes.
	TokenFile string
	// PodInfoDir is the downward API volume with the pod's labels ("labels"
	// file); empty when there is none.
	PodInfoDir string
	DataDir    string
	RunDir     string
	RedisPort  int
	// Bind addresses of redis-server; redisconf.DefaultBind when empty.
	Bind []string
	// HTTPListen is the address of the HTTP API; ":0" picks a port.
	HTTPListen string
	// MetricsListen, when set, serves GET /metrics alone there, without
	// the token the API requires.
	MetricsListen string
	// TLSDir holds the mounted certificate Secret (tls.crt, tls.key,
	// ca.crt), used when instance.json says tls; certs.MountDir when empty.
	TLSDir string
	// CertCheckInterval is how often, with TLS, the files in TLSDir are
	// compared with the certificate the running server loaded.
	CertCheckInterval time.Duration
	// RedisServer is the server binary; when empty, valkey-server or
	// redis-server, whichever the image has in PATH (Valkey first).
	RedisServer string
	// BootWait bounds how long a recorded primary waits for unreachable
	// peers before booting (never the wait for a failover), and how long a
	// restarted replica waits for them before it may be promoted.
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
	if o.TLSDir == "" {
		o.TLSDir = certs.MountDir
	}
	if o.CertCheckInterval == 0 {
		o.CertCheckInterval = defaultCertCheckInterval
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
	log  *slog.Logger

	// tls is instance.json's tls, chosen at the RedisFailover's creation:
	// it never changes while the manager runs. certs are the mounted
	// certificate files, clientTLS the configuration of connections to
	// the other instances and the sentinels.
	tls       bool
	certs     *certs.Files
	clientTLS *tls.Config

	// cfgMu serializes changes of the parameter group.
	cfgMu sync.Mutex

	vol volumeMeasure

	mu          sync.Mutex
	cfg         *instanceconfig.Config
	phase       string
	proc        *supervise.Process
	restarts    int
	decision    *instanceapi.DecisionRecord
	observed    observed
	group       instanceapi.GroupState
	httpAddr    string
	metricsAddr string
	redisClient *redisConn
	// durability in force: instance.json's, until PUT /config changes it.
	durability instanceapi.Durability
	// data is what the manager knows of the data set (data.go).
	data dataState
	// run is the state of the redis-server that runs now (since its start).
	run runState
	// forced is a human's choice of primary while it holds.
	forced      string
	forcedUntil time.Time
	// dataError is Redis's message when it could not load the volume's
	// files; quarantined where they were moved.
	dataError   string
	quarantined string
	output      *outputTail
	// binary and server are the server executable and what its --version
	// says; refused why it is not started (serverRefusal), "" when it is.
	binary  string
	server  engine.Server
	refused string
	// boot is how the seeding of a new RedisFailover went (bootstrap.go);
	// seedURL the seed's URL the operator handed over, seedReady closed
	// (and replaced) when it does.
	boot      *instanceapi.BootstrapStatus
	seedURL   string
	seedReady chan struct{}
	// imported is set once a live import's cutover is recorded
	// (liveimport.go); cutoverMu runs one cutover at a time; hold keeps the
	// source's writes held after it until the operator releases them.
	imported  bool
	cutoverMu sync.Mutex
	hold      *sourceHold
	drift     driftState
	users     usersState
	// backups taken by POST /backups (backups.go).
	backups backupSet
}

// runState is reset at every start of redis-server.
type runState struct {
	started time.Time
	// up: redis-server answered since it started.
	up bool
	// synced: it completed a synchronisation with a primary since.
	synced bool
	// priority is the replica-priority the manager set (-1 none yet);
	// promotable and why are the last evaluation.
	priority    int
	promotable  bool
	why         string
	evaluatedAt time.Time
	// certs is the fingerprint of the TLS certificate files the server
	// loaded ("" without TLS).
	certs string
}

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
	for _, p := range []*string{&opts.DataDir, &opts.RunDir, &opts.TLSDir, &opts.PasswordFile, &opts.InternalPasswordsDir, &opts.TokenFile, &opts.PodInfoDir, &opts.ConfigPath} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, fmt.Errorf("cannot create the instance manager: %w", err)
		}
		*p = abs
	}
	m := &Manager{opts: opts, cfg: opts.Config, log: opts.Log.With("instance", opts.Self), phase: instanceapi.PhaseDeciding, seedReady: make(chan struct{}),
		durability: instanceapi.Durability{MinReplicasToWrite: opts.Config.MinReplicasToWrite, MaxLagSeconds: opts.Config.MinReplicasMaxLagSeconds},
		output:     newOutputTail(64), tls: opts.Config.TLS, certs: certs.NewFiles(opts.TLSDir)}
	m.clientTLS = m.certs.ClientConfig()
	if m.tls && len(m.socketPath()) > maxSocketPath {
		return nil, fmt.Errorf("cannot create the instance manager: the run dir %s is too long for redis-server's Unix socket", opts.RunDir)
	}
	network, addr := m.localAddr()
	m.redisClient = newRedisConn(network, addr, m.adminAuth)
	return m, nil
}

// Durability returns min-replicas-to-write and min-replicas-max-lag in
// force.
func (m *Manager) Durability() instanceapi.Durability {
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

// MetricsAddr is the address of the metrics listener, once Run has
// started it; empty without MetricsListen.
func (m *Manager) MetricsAddr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.metricsAddr
}

// password reads the password file at each use, so that a rotated Secret is
// picked up at the next start of redis-server.
func (m *Manager) password() (string, error) {
	if !m.config().AuthEnabled {
		return "", nil
	}
	p, err := secretfile.Read(m.opts.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("cannot read the password: %w", err)
	}
	return p, nil
}

// adminAuth is the user and password of the manager's own connections to
// its redis-server: the admin user with ACL users, else the password
// alone (Redis's default user). Read at each use, like password.
func (m *Manager) adminAuth() (string, string, error) {
	if !m.config().ACLUsers {
		pw, err := m.password()
		return "", pw, err
	}
	p, err := secretfile.Read(filepath.Join(m.opts.InternalPasswordsDir, acl.AdminPasswordKey))
	if err != nil {
		return "", "", fmt.Errorf("cannot read the admin user's password: %w", err)
	}
	return acl.AdminUser, p, nil
}

// previousHash is the SHA-256 of the application password a rotation
// replaces, accepted next to the new one while the rotation lasts; "" when
// none is.
func (m *Manager) previousHash() (string, error) {
	return acl.ReadPreviousHash(filepath.Join(m.opts.InternalPasswordsDir, acl.PreviousPasswordHashKey))
}

// peerAuth is what the manager authenticates with to the other instances'
// servers (and to its primary, for the replication lag): the admin user
// with Redis users, whose password never rotates, else the password.
func (m *Manager) peerAuth() (string, string, error) {
	if !m.config().ACLUsers {
		pw, err := m.password()
		return "", pw, err
	}
	return m.adminAuth()
}

// internalPasswords reads the internal users' passwords.
func (m *Manager) internalPasswords() (acl.Passwords, error) {
	var p acl.Passwords
	for key, dst := range map[string]*string{acl.AdminPasswordKey: &p.Admin, acl.ReplicationPasswordKey: &p.Replication, acl.SentinelPasswordKey: &p.Sentinel} {
		v, err := secretfile.Read(filepath.Join(m.opts.InternalPasswordsDir, key))
		if err != nil {
			return p, fmt.Errorf("cannot read the internal users' passwords: %w", err)
		}
		*dst = v
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
	m.loadState()
	m.restoreImportStatus()
	defer m.releaseHold()
	// What the volume holds: an RDB's own header is more exact than the
	// last position sampled before a stop.
	pos := m.ownFacts().Position
	m.mu.Lock()
	m.data.pos = pos
	m.mu.Unlock()
	// The server first: the parameter group is checked with it.
	bin, server, err := m.detectServer()
	refused := ""
	if err != nil {
		refused = err.Error()
	} else {
		refused = m.serverRefusal(server)
	}
	m.mu.Lock()
	m.binary, m.server, m.refused = bin, server, refused
	m.mu.Unlock()
	if refused == "" {
		if err := m.loadGroup(ctx); err != nil {
			return err
		}
	}
	m.backups.open(ctx)
	defer m.backups.wait()
	servers, err := m.serveHTTP()
	if err != nil {
		return err
	}
	defer shutdown(servers)
	if refused != "" {
		// Serve the reason (status, readiness) and start nothing: the
		// operator reports it, and a new image restarts the pod.
		m.setPhase(instanceapi.PhaseRefused)
		m.log.Error("the server is not started", "server", server.String(), "reason", refused)
		<-ctx.Done()
		return nil
	}
	m.log.Info("server", "binary", bin, "engine", string(server.Engine), "version", server.Version.String())
	go m.pollLoop(ctx)
	go m.certLoop(ctx)
	if !m.bootstrap(ctx) {
		// The seed cannot be loaded: start nothing, so that nothing is
		// served empty in its place; status and readiness say why.
		m.setPhase(instanceapi.PhaseRefused)
		<-ctx.Done()
		return nil
	}

	crashes := 0
	for {
		var d bootrole.Decision
		var facts bootrole.Facts
		var err error
		if src := m.liveSource(); src != nil {
			d = m.importDecision(src)
		} else {
			d, facts, err = m.decide(ctx)
		}
		if err != nil {
			return nil // cancelled while deciding: nothing runs
		}
		if m.quarantineIfReplica(d, facts) {
			crashes = 0
		}
		proc, err := m.startRedis(d, facts)
		if err == nil {
			select {
			case <-proc.Done():
				m.log.Warn("redis-server exited", "pid", proc.Pid, "how", proc.ExitString(),
					"ran", time.Since(proc.Started).Round(time.Millisecond).String())
				if time.Since(proc.Started) > time.Minute {
					crashes = 0
				}
				m.checkLoadFailure(proc)
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
		m.setPhase(instanceapi.PhaseBackoff)
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
func (m *Manager) decide(ctx context.Context) (bootrole.Decision, bootrole.Facts, error) {
	m.setPhase(instanceapi.PhaseDeciding)
	began := time.Now()
	var lastReason string
	for {
		m.reloadConfig()
		facts := m.gatherFacts(ctx)
		if ctx.Err() != nil {
			// Stopping: facts gathered under a cancelled context say nothing.
			return bootrole.Decision{}, facts, ctx.Err()
		}
		facts.Waited = time.Since(began)
		facts.MaxWait = m.opts.BootWait
		d := bootrole.Decide(facts)
		m.mu.Lock()
		m.decision = &instanceapi.DecisionRecord{Decision: d, Facts: facts, At: time.Now(), Since: began}
		m.mu.Unlock()
		if d.Reason != lastReason || d.Action != bootrole.Wait {
			// One line per decision, with the facts it was made on.
			m.log.Info("boot decision", "action", string(d.Action), "master", d.Master, "masterAddr", d.MasterAddr,
				"recorded", d.Recorded, "recordedBy", d.RecordedBy, "reason", d.Reason, "facts", facts)
			lastReason = d.Reason
		}
		if d.Action != bootrole.Wait {
			return d, facts, nil
		}
		m.setPhase(instanceapi.PhaseWaiting)
		select {
		case <-time.After(m.opts.DecideInterval):
		case <-ctx.Done():
			return d, facts, ctx.Err()
		}
	}
}

// startRedis renders redis.conf for the decision and starts redis-server.
// A replica starts with replica-priority 0 unless it holds data as recent
// as every instance that answers: Sentinel must never promote a replica
// that has not synchronised and may hold older data.
func (m *Manager) startRedis(d bootrole.Decision, facts bootrole.Facts) (*supervise.Process, error) {
	m.setPhase(instanceapi.PhaseStarting)
	pw, err := m.password()
	if err != nil {
		return nil, err
	}
	in := m.renderInput(pw, m.bootGroup())
	if err := m.renderUsers(&in, d); err != nil {
		return nil, err
	}
	priority := m.normalPriority()
	promotable, why := true, "primary"
	m.renderTLS(&in, m.fromLiveSource(d))
	if d.Action == bootrole.Replica {
		host, port, err := m.masterAddress(d)
		if err != nil {
			return nil, err
		}
		in.ReplicaOfHost, in.ReplicaOfPort = host, port
		if m.fromLiveSource(d) {
			// No sentinel watches it during the import; 0 all the same.
			promotable, why, priority = false, "imports from a Redis outside the RedisFailover", 0
		} else if promotable, why = bootrole.Promotable(facts); !promotable {
			priority = 0
		}
	}
	in.ReplicaPriority = &priority
	load, err := m.prepareLoad(in.Persistence)
	if err != nil {
		return nil, err
	}
	in.Persistence = load.renderAs
	conf, err := redisconf.Render(in)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(m.opts.RunDir, "redis.conf")
	if err := atomicfile.Write(path, conf, 0o600); err != nil {
		return nil, err
	}
	loaded := m.loadedCerts()
	cmd := exec.Command(m.binary, path)
	m.output.reset()
	out, err := m.output.pipe(m.opts.RedisOutput)
	if err != nil {
		return nil, fmt.Errorf("cannot start redis-server: %w", err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = m.opts.DataDir
	proc, err := m.opts.Reaper.Start(cmd)
	out.Close()
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.proc = proc
	m.run = runState{started: time.Now(), priority: priority, promotable: promotable, why: why, evaluatedAt: time.Now(), certs: loaded}
	m.mu.Unlock()
	m.bootStarted(in.Group)
	own := facts.Own
	own.Position = bootrole.BootPosition(facts, d)
	m.dataBooted(own)
	m.log.Info("redis-server started", "pid", proc.Pid, "role", string(d.Action), "replicaof",
		net.JoinHostPort(in.ReplicaOfHost, strconv.Itoa(in.ReplicaOfPort)), "configHash", redisconf.Hash(in.Group),
		"replicaPriority", priority, "promotable", why, "loadedFrom", load.describe())
	m.setPhase(instanceapi.PhaseRunning)
	if load.convertTo != "" {
		go m.convertPersistence(proc, load)
	}
	return proc, nil
}

// normalPriority is the replica-priority of a promotable replica: the
// parameter group's, else Redis's default.
func (m *Manager) normalPriority() int {
	if v, ok := m.bootGroup()["replica-priority"]; ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return 100
}

func (m *Manager) renderInput(password string, group map[string]string) redisconf.Input {
	cfg := m.config()
	host, port := cfg.Address(m.opts.Self, m.opts.RedisPort)
	d := m.Durability()
	return redisconf.Input{
		Persistence:              cfg.Persistence,
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

// renderUsers gives redis.conf the application and internal users when
// instance.json turns ACL users on. A replica of a Redis outside the
// RedisFailover (a live import) authenticates to it with the password
// alone, as the source knows no haredis user.
func (m *Manager) renderUsers(in *redisconf.Input, d bootrole.Decision) error {
	cfg := m.config()
	if !cfg.ACLUsers || in.Password == "" {
		return nil
	}
	rules := m.confRules()
	p, err := m.internalPasswords()
	if err != nil {
		return err
	}
	prev, err := m.previousHash()
	if err != nil {
		return err
	}
	users := acl.Users(in.Password, rules, p)
	users[0].PreviousHash = prev
	in.Users = append(users, m.confDeclared()...)
	in.MasterUser, in.MasterAuth = acl.ReplicationUser, p.Replication
	if m.fromLiveSource(d) {
		in.MasterUser, in.MasterAuth = "", in.Password
	}
	return nil
}

// fromLiveSource: the decision is to replicate from the source of a live
// import, a Redis outside the RedisFailover.
func (m *Manager) fromLiveSource(d bootrole.Decision) bool {
	src := m.liveSource()
	return src != nil && d.Action == bootrole.Replica && d.MasterAddr == src.Addr
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
	h, p := m.config().Address(d.Master, m.opts.RedisPort)
	if h == "" {
		return "", 0, fmt.Errorf("cannot find the address of %s", d.Master)
	}
	return h, p, nil
}

// stopRedis shuts redis-server down the way SHUTDOWN does (SIGTERM: a
// primary waits up to shutdown-timeout for its replicas to catch up, data
// is saved per the persistence mode), then kills it after StopTimeout. A
// primary's writes are held first, so that the position recorded for its
// data is exact.
func (m *Manager) stopRedis(proc *supervise.Process) {
	m.setPhase(instanceapi.PhaseStopping)
	m.log.Info("stopping redis-server", "pid", proc.Pid)
	final := m.holdWritesForStop()
	_ = proc.Signal(syscall.SIGTERM)
	clean := false
	select {
	case <-proc.Done():
		clean = proc.Status().Exited() && proc.Status().ExitStatus() == 0
		m.log.Info("redis-server stopped", "pid", proc.Pid, "how", proc.ExitString())
	case <-time.After(m.opts.StopTimeout):
		m.log.Warn("redis-server did not stop in time; killing it", "pid", proc.Pid, "timeout", m.opts.StopTimeout.String())
		_ = proc.SignalGroup(syscall.SIGKILL)
		<-proc.Done()
	}
	m.mu.Lock()
	m.proc = nil
	m.mu.Unlock()
	m.dataStopped(final, clean)
}
