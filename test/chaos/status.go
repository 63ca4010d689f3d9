package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

const (
	// statusPoll is how often the RedisFailover's status is read during a
	// sequence.
	statusPoll = 250 * time.Millisecond
	// readyLead: a failed write counts against the status only when every
	// poll of the readyLead before it read Ready=True, i.e. the Ready
	// interval began more than readyLead before the failure. It allows for
	// the poll's period and for the time a status read takes on a loaded
	// machine.
	readyLead = 2 * time.Second
	// detectLag: the operator learns of a failure through Sentinel
	// (down-after 1 s, its hello and ping periods) and its own next
	// observation; a status that turns not Ready within detectLag of the
	// first failed write of an episode is not wrong. Measured on the bed:
	// status names a new primary 2.5-3 s after a SIGKILL; detection comes
	// before that.
	detectLag = 5 * time.Second
	// episodeGap splits failed writes into episodes.
	episodeGap = time.Second
	// operatorSlack extends an operator outage for the status's excuse:
	// a restarted operator takes the leader lease (up to its 15 s duration
	// when the old leader was killed) before it writes status again.
	operatorSlack = 20 * time.Second
)

// sample is one read of the RedisFailover's status.
type sample struct {
	at      time.Time
	found   bool
	ready   bool
	phase   string
	primary string
	// swStart, swEnd: status.lastSwitchover's times.
	swStart, swEnd time.Time
}

// poller reads the status every statusPoll and keeps every sample.
type poller struct {
	mu      sync.Mutex
	samples []sample
	cancel  context.CancelFunc
	done    chan struct{}
}

func startPoller(ctx context.Context, kc client.Client, ns, name string) *poller {
	ctx, cancel := context.WithCancel(ctx)
	p := &poller{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(statusPoll)
		defer t.Stop()
		for {
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			rf := &haredisv1.RedisFailover{}
			err := kc.Get(rctx, client.ObjectKey{Namespace: ns, Name: name}, rf)
			rcancel()
			if ctx.Err() != nil {
				return
			}
			s := sample{at: time.Now()}
			if err == nil {
				s.found, s.ready, s.phase, s.primary = true, readyNow(rf), string(rf.Status.Phase), rf.Status.CurrentPrimary
				if ls := rf.Status.LastSwitchover; ls != nil && ls.StartTime != nil {
					s.swStart = ls.StartTime.Time
					if ls.EndTime != nil {
						s.swEnd = ls.EndTime.Time
					}
				}
			}
			if err == nil || client.IgnoreNotFound(err) == nil {
				p.mu.Lock()
				p.samples = append(p.samples, s)
				p.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// readyNow: condition Ready=True for the current generation.
func readyNow(rf *haredisv1.RedisFailover) bool {
	return meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionReady) && rf.Status.ObservedGeneration == rf.Generation
}

func (p *poller) stop() {
	p.cancel()
	<-p.done
}

func (p *poller) snapshot() []sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]sample(nil), p.samples...)
}

// allReady tells whether every sample in [from, to] read Ready, and whether
// there was any.
func allReady(ss []sample, from, to time.Time) (all, any bool) {
	i := sort.Search(len(ss), func(i int) bool { return !ss[i].at.Before(from) })
	for ; i < len(ss) && !ss[i].at.After(to); i++ {
		any = true
		if !ss[i].ready {
			return false, true
		}
	}
	return any, any
}

// notReadyDuring adds up the time the polls of [from, to] read not Ready
// and lists the phases they read.
func notReadyDuring(ss []sample, from, to time.Time) (time.Duration, []string) {
	var d time.Duration
	seen := map[string]bool{}
	var phases []string
	for i := range ss {
		if ss[i].at.Before(from) || ss[i].at.After(to) || ss[i].ready {
			continue
		}
		if i+1 < len(ss) {
			d += ss[i+1].at.Sub(ss[i].at)
		}
		p := ss[i].phase
		if !ss[i].found {
			p = "(deleted)"
		}
		if !seen[p] {
			seen[p] = true
			phases = append(phases, p)
		}
	}
	return d, phases
}

// window is a time interval.
type window struct {
	from, to time.Time
	why      string
}

func (w window) contains(t time.Time) bool { return !t.Before(w.from) && !t.After(w.to) }

// wrongStatus is a failure episode of the REDIS_URL writer during which
// the status claimed Ready.
type wrongStatus struct {
	from, to time.Time
	failed   int
	first    string
	step     int32
}

func (w wrongStatus) String() string {
	return fmt.Sprintf("%d REDIS_URL writes failed from %s to %s (step %d) while the status had said Ready=True for more than %s and did not turn within %s of the episode's first failure; first error %q",
		w.failed, w.from.Format("15:04:05.000"), w.to.Format("15:04:05.000"), w.step, readyLead, detectLag, w.first)
}

// findWrongStatus groups the failed writes into episodes (gaps under
// episodeGap) and returns those with a failure that came while every status
// poll of the readyLead before it read Ready (the Ready interval began more
// than readyLead before the failure) and that the status did not answer in
// time: a failure less than detectLag after its episode began is forgiven
// when a later poll within that detectLag reads not Ready (the operator
// noticed; it cannot know before Sentinel does). Failures inside an excused
// window (the operator stopped, the RedisFailover deleted, a connection
// closed at the instant of a planned switchover) are skipped.
func findWrongStatus(fails []failure, ss []sample, excused []window) []wrongStatus {
	var out []wrongStatus
	for i := 0; i < len(fails); {
		j := i + 1
		for j < len(fails) && fails[j].at.Sub(fails[j-1].at) < episodeGap {
			j++
		}
		ep := fails[i:j]
		i = j
		start := ep[0].at
		var bad []failure
		for _, f := range ep {
			if excusedAt(excused, f) {
				continue
			}
			if before, _ := allReady(ss, f.at.Add(-readyLead), f.at); !before {
				continue
			}
			if f.at.Sub(start) < detectLag {
				if after, any := allReady(ss, f.at.Add(time.Nanosecond), start.Add(detectLag)); !any || !after {
					continue
				}
			}
			bad = append(bad, f)
		}
		if len(bad) > 0 {
			out = append(out, wrongStatus{from: bad[0].at, to: bad[len(bad)-1].at, failed: len(bad), first: bad[0].err, step: bad[0].step})
		}
	}
	return out
}

func excusedAt(ws []window, f failure) bool {
	for _, w := range ws {
		if !w.contains(f.at) {
			continue
		}
		if w.why != "switchover" {
			return true
		}
		// A planned switchover excuses only a connection closed in its
		// instant.
		for _, s := range []string{"EOF", "connection reset", "closed", "broken pipe"} {
			if strings.Contains(f.err, s) {
				return true
			}
		}
	}
	return false
}
