package sentinelrun

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/quorum"
	"github.com/haredis/haredis/internal/sentinel"

	"github.com/haredis/haredis/internal/instanceconfig"
)

// Inputs of one start of a dedicated sentinel.
type Inputs struct {
	Config *instanceconfig.Config
	// PodName is this sentinel's pod (NAME-sentinel-N); Self is its own
	// host:port as listed in Config.Sentinels, left out of the peers.
	PodName          string
	AnnounceHostname string
	Port             int
	// TLSDir, when set, is the mounted certificate Secret: the peers are
	// asked over TLS and the sentinel speaks TLS only.
	TLSDir   string
	Password string
	// AuthUser and AuthPass authenticate the sentinel to the instances when
	// instance.json turns ACL users on.
	AuthUser, AuthPass string
	// PreviousPasswordHash, during a rotation of the application
	// password, is the SHA-256 of the password it replaces.
	PreviousPasswordHash string
	// Quorum is the sentinel quorum; 0 means a majority of Config.Sentinels.
	Quorum          int
	DownAfter       time.Duration
	FailoverTimeout time.Duration
	// AskTimeout bounds each question to a peer (default 1 s).
	AskTimeout time.Duration
	// Previous is the sentinel.conf this sentinel left in its run directory
	// (Sentinel rewrites it with its state), empty in a new pod.
	Previous string
	// Resolve checks that a host name resolves (net.DefaultResolver when nil).
	Resolve func(ctx context.Context, host string) error
	// ResolveWait bounds the wait for the primary's name (default 60 s).
	ResolveWait time.Duration
	Log         *slog.Logger
}

// Prepare picks the primary to monitor and renders sentinel.conf. The
// primary is the majority answer of the peers, so a restarted sentinel joins
// the current primary after a failover; only when no peer knows one (a new
// RedisFailover, or every sentinel restarted) does it take the recorded
// primary from instance.json.
//
// The file also names every other instance as a known replica and every
// other sentinel as a known peer, so that sentinels that all restarted at
// once can fail over even if the primary they monitor never answers, and
// carries the voting memory of the file the sentinel left in its run
// directory (Previous) over.
//
// It waits for the primary's name to resolve, at most ResolveWait: a
// primary that is merely slow to get its address is monitored from its
// first answer, while a primary whose pod never comes back does not keep
// the sentinels from starting and failing over (Sentinel 7.0 accepts a name
// that does not resolve yet and resolves it again at every reconnection).
func Prepare(ctx context.Context, in Inputs) (conf, primary string, err error) {
	if in.AskTimeout <= 0 {
		in.AskTimeout = time.Second
	}
	if in.ResolveWait <= 0 {
		in.ResolveWait = 60 * time.Second
	}
	if in.Quorum <= 0 {
		// A majority of the sentinels the RedisFailover has now.
		in.Quorum = quorum.Majority(len(in.Config.Sentinels))
	}
	if in.Config.SentinelsJoining {
		// A SentinelPool still watches the RedisFailover: watch, never
		// fail over, until the operator lowers the quorum.
		in.Quorum = len(in.Config.Sentinels) + 1
	}
	if in.Resolve == nil {
		in.Resolve = func(ctx context.Context, host string) error {
			_, err := net.DefaultResolver.LookupHost(ctx, host)
			return err
		}
	}
	cfg := in.Config
	self := net.JoinHostPort(in.AnnounceHostname, strconv.Itoa(in.Port))
	var peers []string
	for _, s := range cfg.Sentinels {
		if s != self {
			peers = append(peers, s)
		}
	}
	password := ""
	if cfg.SentinelAuthEnabled {
		password = in.Password
	}
	access := sentinel.Access{Password: password}
	if in.TLSDir != "" {
		access.TLS = certs.NewFiles(in.TLSDir).ClientConfig()
	}
	answers := sentinel.AskPrimary(ctx, peers, cfg.MasterName, access, in.AskTimeout)
	addr, ok := sentinel.MostAnswering(answers)
	source := "peer sentinels"
	if !ok {
		host, port := cfg.Address(cfg.InitialPrimary, defaultRedisPort)
		addr, source = net.JoinHostPort(host, strconv.Itoa(port)), "recorded primary"
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("cannot use primary address %q: %w", addr, err)
	}
	port, _ := strconv.Atoi(portStr)
	in.Log.Info("chose the primary to monitor", "primary", addr, "source", source, "peers", len(peers))
	if err := waitResolved(ctx, in, host); err != nil {
		return "", "", err
	}
	prev := ParsePrevious(in.Previous, cfg.MasterName)
	current, leader, configEpoch := prev.Carry(host, port)
	if prev.Found {
		in.Log.Info("carried the previous sentinel.conf's epochs over", "currentEpoch", current, "leaderEpoch", leader,
			"configEpoch", configEpoch, "previousPrimary", net.JoinHostPort(prev.Host, strconv.Itoa(prev.Port)))
	}
	conf, err = Render(Params{
		Port: in.Port, TLSDir: in.TLSDir, AnnounceHostname: in.AnnounceHostname, MyID: MyID(cfg.MasterName, in.PodName),
		Password: in.Password, PreviousPasswordHash: in.PreviousPasswordHash, AuthUser: in.AuthUser, AuthPass: in.AuthPass,
		MasterName: cfg.MasterName, PrimaryHost: host, PrimaryPort: port,
		Quorum: in.Quorum, DownAfter: in.DownAfter, FailoverTimeout: in.FailoverTimeout,
		KnownReplicas:  KnownReplicas(cfg, Addr{Host: host, Port: port}),
		KnownSentinels: KnownSentinels(cfg, Addr{Host: in.AnnounceHostname, Port: in.Port}, in.PodName),
		CurrentEpoch:   current, LeaderEpoch: leader, ConfigEpoch: configEpoch,
	})
	if err != nil {
		return "", "", err
	}
	return conf, addr, nil
}

// waitResolved waits until host resolves, at most in.ResolveWait.
func waitResolved(ctx context.Context, in Inputs, host string) error {
	deadline := time.Now().Add(in.ResolveWait)
	for {
		err := in.Resolve(ctx, host)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			in.Log.Info("the primary's name still does not resolve; starting anyway", "primary", host, "waited", in.ResolveWait.String(), "error", err.Error())
			return nil
		}
		in.Log.Info("waiting for the primary's name to resolve", "primary", host, "error", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot resolve primary %s: %w", host, ctx.Err())
		case <-time.After(min(time.Second, time.Until(deadline))):
		}
	}
}
