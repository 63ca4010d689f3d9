package sentinel

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/quorum"
)

// Answer is one sentinel's view of the primary.
type Answer struct {
	Sentinel string
	// Addr is host:port, empty when the sentinel did not answer or does
	// not know the master.
	Addr string
}

// MostAnswering returns the address more than half of the answering
// sentinels give (quorum.NamedByMostAnswering: silent sentinels are not
// counted); ok is false when none answered or they do not agree.
func MostAnswering(answers []Answer) (addr string, ok bool) {
	addrs := make([]string, len(answers))
	for i, a := range answers {
		addrs[i] = a.Addr
	}
	return quorum.NamedByMostAnswering(addrs)
}

// AskPrimary asks each sentinel for the master's address (SENTINEL
// GET-MASTER-ADDR-BY-NAME), authenticated with password when set. A
// sentinel that does not answer in timeout gives an empty Addr.
func AskPrimary(ctx context.Context, addrs []string, masterName string, a Access, timeout time.Duration) []Answer {
	out := make([]Answer, len(addrs))
	var wg sync.WaitGroup
	for i, s := range addrs {
		out[i].Sentinel = s
		wg.Go(func() {
			sc := redis.NewSentinelClient(&redis.Options{
				ReadBufferSize: replyBuffer, WriteBufferSize: replyBuffer,
				Addr: s, Username: a.User, Password: a.Password, TLSConfig: a.TLS, Dialer: a.Dialer, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, MaxRetries: -1, PoolSize: 1,
			})
			defer sc.Close()
			cctx, cancel := context.WithTimeout(ctx, 2*timeout)
			defer cancel()
			r, err := sc.GetMasterAddrByName(cctx, masterName).Result()
			if err != nil || len(r) != 2 {
				return
			}
			if _, err := strconv.Atoi(r[1]); err != nil {
				return
			}
			out[i].Addr = net.JoinHostPort(r[0], r[1])
		})
	}
	wg.Wait()
	return out
}

// Master is one sentinel's answer to SENTINEL MASTER.
type Master struct {
	Sentinel string
	// Err is set when the sentinel did not answer (a refusal other than
	// an unknown master counts as no answer).
	Err error
	// Unknown: the sentinel answered but does not monitor the master (a
	// new sentinel whose start-up failed, or one that was reset).
	Unknown bool
	// Addr is the primary's host:port as this sentinel gives it.
	Addr string
	// Replicas and Peers are how many replicas and other sentinels this
	// sentinel knows for the master; Quorum is its quorum.
	Replicas, Peers, Quorum int
	// RunID is the sentinel process's run_id (INFO server): a new one
	// means the sentinel restarted, with Sentinel's default timings.
	RunID string
	// DownReplicas are the replicas this sentinel flags down or
	// disconnected (SENTINEL REPLICAS): it would not promote them now.
	DownReplicas []string
	// ConfigEpoch is the epoch of the configuration that named Addr: each
	// failover's leader takes a new, higher one, and the other sentinels
	// adopt its configuration with it. Of two answers the one with the
	// higher epoch is the newer.
	ConfigEpoch int64
	// InFailover: this sentinel is failing the master over
	// (failover_in_progress). Its ConfigEpoch may then already be the
	// new configuration's while Addr is still the old primary's.
	InFailover bool
	// DownAfter is the sentinel's down-after-milliseconds for the master.
	DownAfter time.Duration
}

// Answered tells whether the sentinel answered at all.
func (m Master) Answered() bool { return m.Err == nil }

// AskMaster asks every sentinel, at once, for SENTINEL MASTER: the same
// address as GET-MASTER-ADDR-BY-NAME plus how many replicas and peers each
// knows and its quorum. It only reads.
func AskMaster(ctx context.Context, addrs []string, acc Access, masterName string) []Master {
	out := make([]Master, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() {
			sc := Dial(a, acc)
			defer sc.Close()
			out[i] = parseMaster(a, sc.Master(ctx, masterName))
			if out[i].Answered() && !out[i].Unknown {
				out[i].RunID = runID(ctx, sc)
				out[i].DownReplicas = downReplicas(ctx, sc, masterName)
			}
		})
	}
	wg.Wait()
	return out
}

func parseMaster(addr string, cmd *redis.MapStringStringCmd) Master {
	m := Master{Sentinel: addr}
	res, err := cmd.Result()
	switch {
	case err != nil && strings.Contains(err.Error(), "No such master"):
		m.Unknown = true
	case err != nil:
		m.Err = err
	case res["ip"] != "" && res["port"] != "":
		m.Addr = net.JoinHostPort(res["ip"], res["port"])
		m.Replicas, _ = strconv.Atoi(res["num-slaves"])
		m.Peers, _ = strconv.Atoi(res["num-other-sentinels"])
		m.Quorum, _ = strconv.Atoi(res["quorum"])
		m.ConfigEpoch, _ = strconv.ParseInt(res["config-epoch"], 10, 64)
		m.InFailover = strings.Contains(res["flags"], "failover_in_progress")
		if ms, err := strconv.ParseInt(res["down-after-milliseconds"], 10, 64); err == nil {
			m.DownAfter = time.Duration(ms) * time.Millisecond
		}
	}
	return m
}

// AskOne asks one sentinel for SENTINEL MASTER: the address it names and
// the epoch of that configuration. It only reads.
func AskOne(ctx context.Context, addr string, a Access, masterName string) Master {
	sc := Dial(addr, a)
	defer sc.Close()
	return parseMaster(addr, sc.Master(ctx, masterName))
}

// NamedByMajority returns the address a majority of all configured
// sentinels gives (quorum.Named: the same majority that can elect a
// primary; silent sentinels count against it).
func NamedByMajority(answers []Master, configured int) (string, bool) {
	count := map[string]int{}
	for _, a := range answers {
		if a.Addr != "" {
			count[a.Addr]++
		}
	}
	return quorum.Named(count, configured)
}

// EpochOf is the highest configuration epoch among the answers that name
// addr: the epoch of that configuration as the sentinels know it. A
// sentinel in the middle of a failover is left out: it already has the
// epoch of the configuration it is making, but still the old address.
func EpochOf(answers []Master, addr string) int64 {
	var e int64
	for _, a := range answers {
		if a.Addr == addr && !a.InFailover {
			e = max(e, a.ConfigEpoch)
		}
	}
	return e
}

// runID is the sentinel's run_id from INFO server, "" when it cannot be
// read.
func runID(ctx context.Context, sc *redis.SentinelClient) string {
	cmd := redis.NewStringCmd(ctx, "INFO", "server")
	if err := sc.Process(ctx, cmd); err != nil {
		return ""
	}
	info, err := cmd.Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return v
		}
	}
	return ""
}

// downReplicas are the replicas (host:port) the sentinel flags s_down,
// o_down or disconnected.
func downReplicas(ctx context.Context, sc *redis.SentinelClient, masterName string) []string {
	reps, err := sc.Replicas(ctx, masterName).Result()
	if err != nil {
		return nil
	}
	var down []string
	for _, r := range reps {
		f := r["flags"]
		if strings.Contains(f, "s_down") || strings.Contains(f, "o_down") || strings.Contains(f, "disconnected") {
			down = append(down, net.JoinHostPort(r["ip"], r["port"]))
		}
	}
	return down
}
