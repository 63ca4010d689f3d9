package sentinelconf

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

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
	Password         string
	// Quorum is the sentinel quorum; 0 means a majority of Config.Sentinels.
	Quorum          int
	DownAfter       time.Duration
	FailoverTimeout time.Duration
	// AskTimeout bounds each question to a peer (default 1 s).
	AskTimeout time.Duration
	// Resolve checks that a host name resolves (net.DefaultResolver when nil).
	Resolve func(ctx context.Context, host string) error
	Log     *slog.Logger
}

// Prepare picks the primary to monitor and renders sentinel.conf. The
// primary is the majority answer of the peers, so a restarted sentinel joins
// the current primary after a failover; only when no peer knows one (a new
// RedisFailover) does it take the recorded primary from instance.json. It
// waits until the primary's name resolves, because redis-sentinel refuses
// to load a monitor line it cannot resolve.
func Prepare(ctx context.Context, in Inputs) (conf, primary string, err error) {
	if in.AskTimeout <= 0 {
		in.AskTimeout = time.Second
	}
	if in.Quorum <= 0 {
		// A majority of the sentinels the RedisFailover has now.
		in.Quorum = len(in.Config.Sentinels)/2 + 1
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
	answers := AskSentinels(ctx, peers, cfg.MasterName, password, in.AskTimeout)
	addr, ok := Majority(answers)
	source := "peer sentinels"
	if !ok {
		host, port := cfg.Address(cfg.InitialPrimary, 6379)
		addr, source = net.JoinHostPort(host, strconv.Itoa(port)), "recorded primary"
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("cannot use primary address %q: %w", addr, err)
	}
	port, _ := strconv.Atoi(portStr)
	in.Log.Info("chose the primary to monitor", "primary", addr, "source", source, "peers", len(peers))
	for {
		err := in.Resolve(ctx, host)
		if err == nil {
			break
		}
		in.Log.Info("waiting for the primary's name to resolve", "primary", host, "error", err.Error())
		select {
		case <-ctx.Done():
			return "", "", fmt.Errorf("cannot resolve primary %s: %w", host, ctx.Err())
		case <-time.After(time.Second):
		}
	}
	conf, err = Render(Params{
		Port: in.Port, AnnounceHostname: in.AnnounceHostname, MyID: MyID(cfg.MasterName, in.PodName),
		Password: in.Password, MasterName: cfg.MasterName, PrimaryHost: host, PrimaryPort: port,
		Quorum: in.Quorum, DownAfter: in.DownAfter, FailoverTimeout: in.FailoverTimeout,
	})
	if err != nil {
		return "", "", err
	}
	return conf, addr, nil
}
