package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/quorum"
	"github.com/haredis/haredis/internal/sentinel"
)

// hintWindow is how long after a Sentinel hint (+sdown, +odown,
// +role-change, +convert-to-slave) the operator looks again every
// fastRequeue, so that labels and status follow the failover that may come
// even if the watcher cannot confirm it itself.
const (
	hintWindow  = 15 * time.Second
	fastRequeue = 250 * time.Millisecond
)

// sentinelView is what the sentinels said in one reconcile.
type sentinelView struct {
	asked, answered int
	// primary is the instance a majority of all sentinels names; "" when
	// there is no majority.
	primary string
	// lost are sentinels that answered but do not know the master.
	lost []string
	// addr is the primary's address as the majority gave it.
	addr string
	// epoch is the configuration epoch of that answer (the highest among
	// the sentinels that gave it); 0 without a majority.
	epoch int64
	// complete counts sentinels that know every replica and every other
	// sentinel: only then can they elect a new primary at once.
	complete int
	// stale are sentinels that know more replicas or peers than exist (a
	// removed replica or sentinel): they must forget them, or a vote could
	// wait for a sentinel that is gone.
	stale []string
	// quorums is the quorum each answering sentinel has, by address.
	quorums map[string]int
	// downAfters is each answering sentinel's down-after, by address.
	downAfters map[string]time.Duration
	// tunable are the sentinels that monitor the master, with their
	// run_id (a restarted sentinel has a new one).
	tunable map[string]string
	// downReplicas are replicas some sentinel flags down or disconnected
	// (a replaced replica until the sentinels reach it again): no
	// switchover to them yet.
	downReplicas []string
	// answers are the sentinels' answers, one per address asked.
	answers []sentinel.Master
}

// followSentinels keeps one watcher per RedisFailover running and asks every
// sentinel who the primary is. Sentinel alone decides unplanned failovers
// (safety rule 2): the operator only reads the answer here; tendSentinels
// writes.
func (r *RedisFailoverReconciler) followSentinels(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	addrs := r.Reach.SentinelAddrs(rf, st.sentinels)
	key := types.NamespacedName{Namespace: rf.Namespace, Name: rf.Name}
	if len(addrs) > 0 {
		acc := sentinelAccess(rf, st)
		r.watchers.ensure(key, sentinel.Config{
			Addrs: addrs, MasterName: st.masterName, SentinelUser: acc.User, SentinelPassword: acc.Password, TLS: st.tls,
			RedisPassword: st.password, RedisFallback: st.rotation.Previous,
			Resolve: r.podAddrOf(rf),
		}, st.tlsInfo.caPEM)
	}
	st.view = r.askSentinels(ctx, rf, st, addrs, sentinelAccess(rf, st))
	return ctrl.Result{}, nil
}

// tendSentinels gives the sentinels what they need and lost: haredis's
// timings (after a restart), the master for one that does not know it
// (only to what the majority says), the quorum of the current count, and a
// reset for one that knows removed replicas or sentinels. Refusals reach
// the Ready condition (st.sentinelErrors).
func (r *RedisFailoverReconciler) tendSentinels(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	pw := sentinelAccess(rf, st)
	r.tuneSentinels(ctx, st, pw)
	if st.view.primary != "" && len(st.view.lost) > 0 {
		r.repairSentinels(ctx, rf, st, pw)
	}
	r.setQuorum(ctx, rf, st, pw)
	r.setDownAfter(ctx, rf, st, pw)
	r.forgetStale(ctx, rf, st, pw)
	return ctrl.Result{}, nil
}

// sentinelTimings are the down-after and failover-timeout the sentinels of
// rf run with: the spec's, else 1 s and 10 s.
func sentinelTimings(rf *haredisv1.RedisFailover) (downAfter, failoverTimeout time.Duration) {
	downAfter, failoverTimeout = time.Second, 10*time.Second
	if d := rf.Spec.Sentinel.DownAfter; d != nil {
		downAfter = d.Duration
	}
	if d := rf.Spec.Sentinel.FailoverTimeout; d != nil {
		failoverTimeout = d.Duration
	}
	return downAfter, failoverTimeout
}

// setDownAfter puts back the spec's down-after on a sentinel that has
// another one: a planned switchover raises it while its fence holds and
// restores it when it ends, so another is left only by an operator that
// stopped in the middle of one. It waits while a switchover runs.
func (r *RedisFailoverReconciler) setDownAfter(ctx context.Context, rf *haredisv1.RedisFailover, st *state, password sentinel.Access) {
	if run := r.switchovers.get(types.NamespacedName{Namespace: rf.Namespace, Name: rf.Name}); run != nil && !run.finished() {
		return
	}
	want, _ := sentinelTimings(rf)
	for addr, have := range st.view.downAfters {
		if have == want {
			continue
		}
		if err := sentinel.SetDownAfter(ctx, addr, password, st.masterName, want); err != nil {
			log.FromContext(ctx).Info("cannot set a sentinel's down-after", "sentinel", addr, "downAfter", want.String(), "error", err.Error())
			st.sentinelErrors = append(st.sentinelErrors, fmt.Sprintf("cannot set the down-after of sentinel %s to %s: %v", addr, want, err))
			continue
		}
		log.FromContext(ctx).Info("set a sentinel's down-after back", "sentinel", addr, "from", have.String(), "to", want.String())
	}
}

// sentinelAccess is how the operator reaches the sentinels in charge of
// rf: the password they require ("" without auth) and, with TLS, rf's CA;
// a SentinelPool's as its admin user.
func sentinelAccess(rf *haredisv1.RedisFailover, st *state) sentinel.Access {
	if st.pool != nil {
		return st.poolAccess
	}
	a := sentinel.Access{TLS: st.tls}
	if rf.AuthEnabled() {
		a.Password = st.password
	}
	return a
}

// quorumToSet says whether a sentinel whose quorum is have gets want now.
// A lower quorum is set at once: it only lets fewer sentinels agree that
// the primary is down, and electing the one that fails over still takes a
// majority of all of them, so it never allows two primaries; it keeps
// failovers possible while sentinels are being removed. A higher one waits
// until every sentinel of the new count answers (all present), or a
// failover could need sentinels that are not running yet.
func quorumToSet(have, want int, allPresent bool) bool {
	return have != want && (want < have || allPresent)
}

// heldForTeaching: a sentinel taught the master (teachPool) has a quorum
// above any pool's size, which none can reach; it keeps it while the pool
// is taught the master (taught), so that no sentinel fails over before
// every one knows every replica. Then the key goes and it gets the
// majority.
func heldForTeaching(have int, taught bool) bool { return taught && have == taughtQuorum }

// setQuorum applies the quorum of the sentinels in charge (a majority of
// spec.sentinel.replicas, or of the pool's) live with SENTINEL SET to every
// sentinel that has another one: a new count restarts no sentinel.
func (r *RedisFailoverReconciler) setQuorum(ctx context.Context, rf *haredisv1.RedisFailover, st *state, password sentinel.Access) {
	want := quorum.Majority(st.sentinelCount)
	allPresent := st.view.answered == st.sentinelCount && st.view.asked == st.view.answered
	taught := r.poolTaught(ctx, st)
	for addr, have := range st.view.quorums {
		if !quorumToSet(have, want, allPresent) {
			continue
		}
		if heldForTeaching(have, taught) {
			continue
		}
		if err := sentinel.SetQuorum(ctx, addr, password, st.masterName, want); err != nil {
			log.FromContext(ctx).Info("cannot set a sentinel's quorum", "sentinel", addr, "quorum", want, "error", err.Error())
			st.sentinelErrors = append(st.sentinelErrors, fmt.Sprintf("cannot set the quorum of sentinel %s to %d: %v", addr, want, err))
			continue
		}
		log.FromContext(ctx).Info("set a sentinel's quorum", "sentinel", addr, "from", have, "to", want)
	}
}

// forgetStale resets (SENTINEL RESET) one sentinel that still knows a
// removed replica or sentinel, and only while every other sentinel knows
// every replica and peer and agrees on the primary: the reset one is blind
// for a moment (it rediscovers the replicas and its peers within about a
// second), and the others can still fail over meanwhile.
func (r *RedisFailoverReconciler) forgetStale(ctx context.Context, rf *haredisv1.RedisFailover, st *state, password sentinel.Access) {
	v := st.view
	if len(v.stale) == 0 || v.primary == "" || v.primary != rf.Status.CurrentPrimary || v.answered != v.asked || len(st.leaving) > 0 {
		return
	}
	if rf.Status.TargetPrimary != "" && rf.Status.TargetPrimary != rf.Status.CurrentPrimary {
		return
	}
	// Every sentinel must know every replica and peer (a stale one knows
	// more): one that was just reset does not, and holds back the next.
	if v.complete != v.asked || v.asked < st.sentinelCount {
		return
	}
	a := v.stale[0]
	if err := sentinel.Reset(ctx, a, password, st.masterName); err != nil {
		log.FromContext(ctx).Info("cannot reset a sentinel that knows removed replicas or sentinels", "sentinel", a, "error", err.Error())
		st.sentinelErrors = append(st.sentinelErrors, fmt.Sprintf("cannot reset sentinel %s, which knows removed replicas or sentinels: %v", a, err))
		return
	}
	log.FromContext(ctx).Info("reset a sentinel to forget removed replicas or sentinels", "sentinel", a)
	r.event(rf, corev1.EventTypeNormal, haredisv1.EventSentinelReset, "Reset", "sentinel %s knew replicas or sentinels that no longer exist; reset it so that it rediscovers the current ones", a)
}

// askSentinels asks every sentinel in charge for the master. It only
// reads.
func (r *RedisFailoverReconciler) askSentinels(ctx context.Context, rf *haredisv1.RedisFailover, st *state, addrs []string, password sentinel.Access) sentinelView {
	answers := sentinel.AskMaster(ctx, addrs, password, st.masterName)
	v := viewOf(rf, answers, len(st.instances), st.sentinelCount)
	v.answers = answers
	if v.addr != "" {
		if v.primary = r.instanceAtAddr(rf, v.addr); v.primary == "" {
			log.FromContext(ctx).Info("sentinel majority names an address that is none of the instances; ignored", "address", v.addr)
			v.addr = ""
		}
	}
	return v
}

// viewOf sums up the answers of the sentinels in charge (configured of
// them; instances is how many Redis instances rf has now): v.addr is the
// address a majority of all configured sentinels gives (the same majority
// that can elect a primary), v.primary is left to the caller, who knows
// which instance listens there.
func viewOf(rf *haredisv1.RedisFailover, answers []sentinel.Master, instances, configured int) sentinelView {
	v := sentinelView{asked: len(answers), quorums: map[string]int{}, downAfters: map[string]time.Duration{}, tunable: map[string]string{}}
	for _, a := range answers {
		if a.Answered() {
			v.answered++
		}
		if a.Quorum > 0 {
			v.quorums[a.Sentinel] = a.Quorum
		}
		if a.DownAfter > 0 {
			v.downAfters[a.Sentinel] = a.DownAfter
		}
		if a.Unknown {
			v.lost = append(v.lost, a.Sentinel)
		}
		if a.Addr == "" {
			continue
		}
		v.tunable[a.Sentinel] = a.RunID
		v.downReplicas = append(v.downReplicas, a.DownReplicas...)
		if a.Replicas >= int(rf.Spec.Redis.Replicas)-1 && a.Peers >= configured-1 {
			v.complete++
		}
		if a.Replicas > instances-1 || a.Peers > len(answers)-1 {
			v.stale = append(v.stale, a.Sentinel)
		}
	}
	if addr, ok := sentinel.NamedByMajority(answers, configured); ok {
		v.addr = addr
		v.epoch = sentinel.EpochOf(answers, addr)
	}
	return v
}

// repairSentinels gives a sentinel that does not know the master (a new or
// reset one whose start-up failed) the primary the majority agrees on.
func (r *RedisFailoverReconciler) repairSentinels(ctx context.Context, rf *haredisv1.RedisFailover, st *state, password sentinel.Access) {
	m := r.monitored(rf, st, st.masterName, st.view.primary, quorum.Majority(st.sentinelCount))
	for _, a := range st.view.lost {
		if err := sentinel.Monitor(ctx, a, password, m); err != nil {
			log.FromContext(ctx).Info("cannot repair a sentinel that lost the master", "sentinel", a, "error", err.Error())
			st.sentinelErrors = append(st.sentinelErrors, fmt.Sprintf("cannot set sentinel %s to monitor %s: %v", a, st.view.primary, err))
			continue
		}
		log.FromContext(ctx).Info("repaired a sentinel to the majority's primary", "sentinel", a, "primary", st.view.primary)
		r.event(rf, corev1.EventTypeNormal, haredisv1.EventSentinelRepaired, "Repair", "sentinel %s did not know the master; set it to monitor %s as the other sentinels do", a, st.view.primary)
	}
}

// retuneAfter is how often a sentinel's timings are set again even when it
// did not restart (SENTINEL DEBUG is not persisted, and a sentinel whose
// run_id could not be read may have restarted).
const retuneAfter = 10 * time.Second

// tuned is when a sentinel got haredis's timings, and which process.
type tuned struct {
	at    time.Time
	runID string
}

// tuneSentinels sets haredis's Sentinel timings (sentinel.Tune) on every
// sentinel that monitors the master: at once when it is a new process (a
// restarted sentinel runs with Sentinel's defaults, which risk a needless
// second failover and slow a switchover by up to 10 s), else every
// retuneAfter.
func (r *RedisFailoverReconciler) tuneSentinels(ctx context.Context, st *state, password sentinel.Access) {
	for addr, id := range st.view.tunable {
		if v, ok := r.tuned.Load(addr); ok {
			last := v.(tuned)
			if id != "" && last.runID == id && time.Since(last.at) < retuneAfter {
				continue
			}
		}
		sc := sentinel.Dial(addr, password)
		err := sentinel.Tune(ctx, sc)
		sc.Close()
		if err != nil {
			log.FromContext(ctx).V(1).Info("cannot tune a sentinel's timings", "sentinel", addr, "error", err.Error())
			continue
		}
		r.tuned.Store(addr, tuned{at: time.Now(), runID: id})
	}
}

// watcherSet runs one Sentinel watcher per RedisFailover, and a listener
// of +switch-master on each of its sentinels; every event they report
// becomes a reconcile of that RedisFailover, and each new primary a move
// of the role labels (onSwitch).
type watcherSet struct {
	triggers chan<- event.GenericEvent
	// onSwitch is called, on a goroutine of its own, with every primary a
	// watcher confirmed after a +switch-master.
	onSwitch func(rf types.NamespacedName, e sentinel.Event, cfg sentinel.Config)
	log      logr.Logger
	ctx      context.Context
	cancel   context.CancelFunc

	mu       sync.Mutex
	watchers map[types.NamespacedName]*runningWatcher
}

type runningWatcher struct {
	key      string
	cancel   context.CancelFunc
	lastHint time.Time
	// lastSwitch is the last switch handed to onSwitch ("OLD NEW"), and
	// when: every sentinel announces a switch, and the watcher too.
	lastSwitch   string
	lastSwitchAt time.Time
}

func newWatcherSet(triggers chan<- event.GenericEvent, onSwitch func(types.NamespacedName, sentinel.Event, sentinel.Config), log logr.Logger) *watcherSet {
	ctx, cancel := context.WithCancel(context.Background())
	return &watcherSet{triggers: triggers, onSwitch: onSwitch, log: log, ctx: ctx, cancel: cancel, watchers: map[types.NamespacedName]*runningWatcher{}}
}

// Start implements manager.Runnable: it stops every watcher when the
// manager stops.
func (s *watcherSet) Start(ctx context.Context) error {
	<-ctx.Done()
	s.cancel()
	return nil
}

// ensure runs a watcher for rf with cfg, replacing one whose sentinels,
// credentials or trusted CA (caPEM, with TLS) changed.
func (s *watcherSet) ensure(rf types.NamespacedName, cfg sentinel.Config, caPEM []byte) {
	addrs := append([]string(nil), cfg.Addrs...)
	sort.Strings(addrs)
	key := strings.Join(addrs, ",") + "|" + cfg.MasterName + "|" + hashSecret(cfg.SentinelPassword+"\x00"+cfg.RedisPassword+"\x00"+cfg.RedisFallback+"\x00"+string(caPEM))
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.watchers[rf]; ok {
		if w.key == key {
			return
		}
		w.cancel()
	}
	ctx, cancel := context.WithCancel(s.ctx)
	rw := &runningWatcher{key: key, cancel: cancel}
	s.watchers[rf] = rw
	cfg.Log = s.log.WithValues("redisfailover", rf.String())
	handle := func(e sentinel.Event) {
		s.mu.Lock()
		if e.New == "" {
			rw.lastHint = time.Now()
		}
		fresh := e.Kind == sentinel.EventSwitchMaster && (e.Old+" "+e.New != rw.lastSwitch || time.Since(rw.lastSwitchAt) > hintWindow)
		if fresh {
			rw.lastSwitch, rw.lastSwitchAt = e.Old+" "+e.New, time.Now()
		}
		s.mu.Unlock()
		if fresh && s.onSwitch != nil {
			go s.onSwitch(rf, e, cfg)
		}
		obj := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: rf.Namespace, Name: rf.Name}}
		select {
		case s.triggers <- event.GenericEvent{Object: obj}:
		default:
			// The queue is full of triggers already; the next one will do.
		}
	}
	w := sentinel.NewWatcher(cfg, handle)
	go func() { _ = w.Run(ctx) }()
	// The watcher follows one sentinel; a switch is heard first from the
	// sentinel that led it, whichever that is.
	sentinel.ListenSwitches(ctx, cfg, handle)
	s.log.Info("started the sentinel watcher", "redisfailover", rf.String(), "sentinels", len(addrs))
}

// hintedRecently tells whether a sentinel hinted at trouble lately.
func (s *watcherSet) hintedRecently(rf types.NamespacedName) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.watchers[rf]
	return ok && time.Since(w.lastHint) < hintWindow
}

func (s *watcherSet) stop(rf types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.watchers[rf]; ok {
		w.cancel()
		delete(s.watchers, rf)
		s.log.Info("stopped the sentinel watcher", "redisfailover", rf.String())
	}
}

// hashSecret tells credentials apart without keeping them.
func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

// sentinelViews is what each sentinel pod said of the master in this
// reconcile (st.view), sorted by pod name, in words that change only when
// the answer does (no addresses or timings of errors).
func (r *RedisFailoverReconciler) sentinelViews(rf *haredisv1.RedisFailover, st *state) []haredisv1.SentinelView {
	byAddr := map[string]sentinel.Master{}
	for _, a := range st.view.answers {
		byAddr[a.Sentinel] = a
	}
	var out []haredisv1.SentinelView
	for _, p := range st.sentinels {
		addrs := r.Reach.SentinelAddrs(rf, []corev1.Pod{p})
		if len(addrs) != 1 {
			continue
		}
		a, asked := byAddr[addrs[0]]
		if !asked {
			continue
		}
		v := haredisv1.SentinelView{Name: p.Name}
		switch {
		case a.Unknown:
			v.Problem = "does not monitor the master"
		case !a.Answered() || a.Addr == "":
			v.Problem = "did not answer"
		default:
			if v.Primary = r.instanceAtAddr(rf, a.Addr); v.Primary == "" {
				v.Problem = "names " + a.Addr + ", none of the instances"
			}
			v.ConfigEpoch = a.ConfigEpoch
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// instanceAtAddr is the instance a sentinel's host:port answer names; ""
// when it is none of rf's instances (or no host:port at all).
func (r *RedisFailoverReconciler) instanceAtAddr(rf *haredisv1.RedisFailover, addr string) string {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	port, _ := strconv.Atoi(portStr)
	return r.Reach.InstanceAt(rf, host, port)
}

// podAddrOf maps an instance's address as rf's sentinels report it (its
// stable host name) to its pod's address in the cache, "" when the pod is
// unknown, deleting, not running or has no IP: the watcher then dials the
// host name. (A pod that ended may keep an IP that another pod has now.)
// Confirming a new primary with ROLE so skips a cluster DNS lookup, which
// on a loaded cluster is the slowest part of that confirmation.
func (r *RedisFailoverReconciler) podAddrOf(rf *haredisv1.RedisFailover) func(addr string) string {
	ref := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: rf.Namespace, Name: rf.Name, UID: rf.UID}}
	return func(addr string) string {
		name := r.instanceAtAddr(ref, addr)
		if name == "" {
			return ""
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		pod := &corev1.Pod{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: name}, pod); err != nil || pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
			return ""
		}
		return r.Reach.RedisAddr(ref, pod)
	}
}

// monitored is what a sentinel needs to monitor rf under name: the
// announced address of instance primary, quorum q, rf's timings and the
// sentinel user's credentials.
func (r *RedisFailoverReconciler) monitored(rf *haredisv1.RedisFailover, st *state, name, primary string, q int) sentinel.Monitored {
	host, port := r.Reach.InstanceAddr(rf, primary)
	downAfter, failoverTimeout := sentinelTimings(rf)
	m := sentinel.Monitored{MasterName: name, Host: host, Port: port, Quorum: q, DownAfter: downAfter, FailoverTimeout: failoverTimeout}
	m.AuthUser, m.AuthPass = sentinelAuth(rf, st)
	return m
}
