package sentinelconf

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/haredis/haredis/internal/quorum"

	"github.com/redis/go-redis/v9"
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

// AskSentinels asks each sentinel for the master's address (SENTINEL
// GET-MASTER-ADDR-BY-NAME), authenticated with password when set. A
// sentinel that does not answer in timeout gives an empty Addr.
func AskSentinels(ctx context.Context, addrs []string, masterName, password string, timeout time.Duration) []Answer {
	out := make([]Answer, len(addrs))
	done := make(chan struct{}, len(addrs))
	for i, s := range addrs {
		out[i].Sentinel = s
		go func() {
			defer func() { done <- struct{}{} }()
			sc := redis.NewSentinelClient(&redis.Options{
				Addr: s, Password: password, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, MaxRetries: -1, PoolSize: 1,
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
		}()
	}
	for range addrs {
		<-done
	}
	return out
}
