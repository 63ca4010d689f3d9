package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/specs"
)

// rollingCPU is the CPU request the rolling update sets on the server
// containers: spec.redis.resources is part of the instance pods' template,
// so every instance pod is replaced (replica first, then a switchover, then
// the old primary); the sentinels keep theirs.
const rollingCPU = "50m"

// labelMove is how the role label and the NAME-primary Service followed a
// SIGKILL of a primary's server process.
type labelMove struct {
	rf, from, to string
	// label: until the pod labelled primary was the new primary alone;
	// endpoints: until NAME-primary's ready endpoints were that pod alone;
	// both: the later of the two; promoted: until the new primary's
	// instance manager reported it a primary (Sentinel's part: the
	// down-after period and the election). both minus promoted is the
	// operator's part. switched: until the first sentinel announced the
	// new primary (+switch-master): label minus switched is the operator's
	// own part of the label move (it follows that announcement), endpoints
	// minus label the EndpointSlice controller's.
	label, endpoints, both, promoted, switched time.Duration
	// rollingUnderWay counts the rolling updates not yet done when both
	// had happened.
	rollingUnderWay int
	// killedAt is when the primary's server got SIGKILL; steps is the
	// operator's own account of the move (its log).
	killedAt time.Time
	steps    labelSteps
}

// rollAndKill starts a rolling update on the first RedisFailovers and,
// while they run, kills the primary of the last one.
func (b *bench) rollAndKill(ctx context.Context, res *results) error {
	rolled, victim := b.names[:b.cfg.rolling], b.names[len(b.names)-1]
	start := time.Now()
	gens, err := b.startRollingUpdate(ctx, rolled)
	if err != nil {
		return err
	}
	if err := b.waitRollingSeen(ctx, gens); err != nil {
		return err
	}
	move, killedAt, err := b.killPrimary(ctx, victim)
	if err != nil {
		return err
	}
	move.rollingUnderWay = b.rollingUnderWay(gens)
	if move.steps, err = b.readLabelSteps(ctx, victim, killedAt); err != nil {
		b.log.Warn("the operator's account of the label move is unknown", "error", err.Error())
	}
	move.killedAt = killedAt
	res.move = move
	b.log.Info("label moved", "redisfailover", victim, "from", move.from, "to", move.to, "ms", move.both.Milliseconds(), "rolling_updates_under_way", move.rollingUnderWay)

	wctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	go b.logProgress(wctx, func(rfs map[string]*haredisv1.RedisFailover) {
		b.log.Info("waiting", "rolling_updates_under_way", countRolling(rfs, gens))
	})
	// Both are noted when first seen: whichever comes first is not
	// measured from the end of the wait for the other.
	var rolledAt, recoveredAt time.Time
	_, err = b.watch.waitFor(wctx, "the rolling updates to end and "+victim+" to be Ready again", func(rfs map[string]*haredisv1.RedisFailover) error {
		now := time.Now()
		if rolledAt.IsZero() && countRolling(rfs, gens) == 0 {
			rolledAt = now
		}
		if rf := rfs[victim]; recoveredAt.IsZero() && rf != nil && recovered(rf, move.to) {
			recoveredAt = now
		}
		if rolledAt.IsZero() || recoveredAt.IsZero() {
			return fmt.Errorf("%d rolling updates under way, %s recovered: %v", countRolling(rfs, gens), victim, !recoveredAt.IsZero())
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.rolling, res.recovered = rolledAt.Sub(start), recoveredAt.Sub(killedAt)
	return nil
}

// recovered: the RedisFailover records primary as its primary and is Ready
// with every instance.
func recovered(rf *haredisv1.RedisFailover, primary string) bool {
	return rf.Status.CurrentPrimary == primary && isReady(rf) && rf.Status.ReadyInstances == instances
}

// startRollingUpdate changes the Redis containers' resources of names and
// returns the generation each got.
func (b *bench) startRollingUpdate(ctx context.Context, names []string) (map[string]int64, error) {
	gens := map[string]int64{}
	for _, n := range names {
		rf := &haredisv1.RedisFailover{}
		if err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: n}, rf); err != nil {
			return nil, fmt.Errorf("cannot read RedisFailover %s: %w", n, err)
		}
		patch := client.MergeFrom(rf.DeepCopy())
		rf.Spec.Redis.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(rollingCPU)}
		if err := b.env.Client.Patch(ctx, rf, patch); err != nil {
			return nil, fmt.Errorf("cannot start the rolling update of %s: %w", n, err)
		}
		gens[n] = rf.Generation
	}
	b.log.Info("rolling update started", "redisfailovers", len(names), "cpu_request", rollingCPU)
	return gens, nil
}

// waitRollingSeen waits until the operator has observed the new spec of
// every rolled RedisFailover: from then on their rolling updates run.
func (b *bench) waitRollingSeen(ctx context.Context, gens map[string]int64) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	_, err := b.watch.waitFor(ctx, "the operator to see the new specs", func(rfs map[string]*haredisv1.RedisFailover) error {
		for n, g := range gens {
			if rf := rfs[n]; rf == nil || rf.Status.ObservedGeneration < g {
				return fmt.Errorf("%s not observed at generation %d", n, g)
			}
		}
		return nil
	})
	return err
}

func (b *bench) rollingUnderWay(gens map[string]int64) int {
	n := 0
	b.watch.inspect(func(rfs map[string]*haredisv1.RedisFailover) { n = countRolling(rfs, gens) })
	return n
}

// countRolling counts the RedisFailovers of gens whose rolling update is
// not done: not observed at its generation, an instance not updated, not
// Ready, or Progressing.
func countRolling(rfs map[string]*haredisv1.RedisFailover, gens map[string]int64) int {
	n := 0
	for name, g := range gens {
		rf := rfs[name]
		if rf == nil || rf.Status.ObservedGeneration < g || rf.Status.UpdatedInstances != instances || !isReady(rf) ||
			meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionProgressing) {
			n++
		}
	}
	return n
}

// killPrimary SIGKILLs the primary's server process (valkey-server or
// redis-server) of RedisFailover name and
// measures how long the role label and the NAME-primary Service take to
// follow the new primary; it returns the time of the kill too.
func (b *bench) killPrimary(ctx context.Context, name string) (labelMove, time.Time, error) {
	rf := &haredisv1.RedisFailover{}
	if err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, rf); err != nil {
		return labelMove{}, time.Time{}, fmt.Errorf("cannot read RedisFailover %s: %w", name, err)
	}
	old, next, oldIP := primaryAndOther(rf)
	if next == "" || oldIP == "" {
		return labelMove{}, time.Time{}, fmt.Errorf("%s: no replica or no primary address in status (primary %q)", name, old)
	}
	pid, err := b.redisPID(ctx, rf, oldIP)
	if err != nil {
		return labelMove{}, time.Time{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	label := startFollower(wctx, b.env.Bed.Client.CoreV1().RESTClient(), "pods",
		labels.SelectorFromSet(specs.Selector(rf, specs.ComponentRedis)).String(), &corev1.Pod{}, onlyPrimaryLabel(next))
	eps := startFollower(wctx, b.env.Bed.Client.DiscoveryV1().RESTClient(), "endpointslices",
		discoveryv1.LabelServiceName+"="+rf.PrimaryServiceName(), &discoveryv1.EndpointSlice{}, onlyReadyEndpoint(next))
	for _, f := range []*follower{label, eps} {
		if err := f.waitSynced(wctx); err != nil {
			return labelMove{}, time.Time{}, err
		}
	}
	nextPod := &corev1.Pod{}
	if err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: next}, nextPod); err != nil {
		return labelMove{}, time.Time{}, fmt.Errorf("cannot read pod %s: %w", next, err)
	}
	nextAPI, err := b.env.InstanceClient(ctx, namespace, rf.Name, nextPod.Status.PodIP)
	if err != nil {
		return labelMove{}, time.Time{}, err
	}
	switched, err := b.watchSwitchMaster(wctx, rf)
	if err != nil {
		return labelMove{}, time.Time{}, err
	}
	killedAt := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return labelMove{}, time.Time{}, fmt.Errorf("cannot kill the server process %d of %s: %w", pid, old, err)
	}
	promoted := make(chan time.Duration, 1)
	go func() {
		_ = redistest.Wait(wctx, 20*time.Millisecond, func() error {
			st, err := nextAPI.Status(wctx)
			if err != nil || st.Role != string(haredisv1.RolePrimary) {
				return fmt.Errorf("not promoted yet")
			}
			promoted <- time.Since(killedAt)
			return nil
		})
	}()
	b.log.Info("killed the primary's server process", "redisfailover", name, "pod", old, "pid", pid)
	m := labelMove{rf: name, from: old, to: next}
	if m.label, err = label.since(killedAt); err != nil {
		return m, killedAt, fmt.Errorf("the role label did not move to %s: %w", next, err)
	}
	if m.endpoints, err = eps.since(killedAt); err != nil {
		return m, killedAt, fmt.Errorf("%s did not select %s: %w", rf.PrimaryServiceName(), next, err)
	}
	m.both = max(m.label, m.endpoints)
	select {
	case m.promoted = <-promoted:
	case <-wctx.Done():
	}
	select {
	case at := <-switched:
		m.switched = at.Sub(killedAt)
	case <-wctx.Done():
	}
	return m, killedAt, b.checkPrimary(ctx, rf, next)
}

// watchSwitchMaster subscribes to +switch-master on every sentinel of rf
// and sends the time the first one announces a new primary.
func (b *bench) watchSwitchMaster(ctx context.Context, rf *haredisv1.RedisFailover) (<-chan time.Time, error) {
	var pods corev1.PodList
	if err := b.env.Client.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels(specs.Selector(rf, specs.ComponentSentinel))); err != nil {
		return nil, fmt.Errorf("cannot list the sentinels of %s: %w", rf.Name, err)
	}
	secret := &corev1.Secret{}
	if err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: rf.AuthSecretName()}, secret); err != nil {
		return nil, fmt.Errorf("cannot read the password of %s: %w", rf.Name, err)
	}
	out := make(chan time.Time, len(pods.Items))
	for _, p := range pods.Items {
		sc, ps, err := subscribeSwitches(ctx, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(specs.SentinelPort)), string(secret.Data[specs.PasswordKey]), b.env.Dial)
		if err != nil {
			return nil, fmt.Errorf("cannot subscribe to sentinel %s: %w", p.Name, err)
		}
		go func() {
			defer sc.Close()
			defer ps.Close()
			if _, err := ps.ReceiveMessage(ctx); err == nil {
				out <- time.Now()
			}
		}()
	}
	return out, nil
}

// subscribeSwitches subscribes to +switch-master on the sentinel at addr,
// each try bounded to 3 s, for up to a minute: on a saturated machine a
// sentinel may not be scheduled for seconds (its log then says +tilt).
func subscribeSwitches(ctx context.Context, addr, password string, dial func(context.Context, string, string) (net.Conn, error)) (*redis.SentinelClient, *redis.PubSub, error) {
	var (
		sc *redis.SentinelClient
		ps *redis.PubSub
	)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := redistest.Wait(wctx, 200*time.Millisecond, func() error {
		c := redis.NewSentinelClient(&redis.Options{Addr: addr, Password: password, Dialer: dial})
		sub := c.Subscribe(ctx, "+switch-master")
		if _, err := sub.ReceiveTimeout(wctx, 3*time.Second); err != nil {
			sub.Close()
			c.Close()
			return err
		}
		sc, ps = c, sub
		return nil
	})
	return sc, ps, err
}

// primaryAndOther returns the recorded primary, another instance and the
// primary's pod address.
func primaryAndOther(rf *haredisv1.RedisFailover) (primary, other, primaryIP string) {
	primary = rf.Status.CurrentPrimary
	for _, is := range rf.Status.Instances {
		if is.Name == primary {
			primaryIP = is.PodIP
		} else if other == "" {
			other = is.Name
		}
	}
	return primary, other, primaryIP
}

// redisPID asks the instance manager at podIP for its server's PID
// (a host PID: the bed's pods share the host's PID namespace).
func (b *bench) redisPID(ctx context.Context, rf *haredisv1.RedisFailover, podIP string) (int, error) {
	ic, err := b.env.InstanceClient(ctx, namespace, rf.Name, podIP)
	if err != nil {
		return 0, err
	}
	s, err := ic.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("cannot read the status of the primary of %s: %w", rf.Name, err)
	}
	if s.RedisPID == 0 {
		return 0, fmt.Errorf("the primary of %s runs no server process", rf.Name)
	}
	return s.RedisPID, nil
}

// checkPrimary confirms that the pod the label moved to runs a primary.
func (b *bench) checkPrimary(ctx context.Context, rf *haredisv1.RedisFailover, name string) error {
	pod := &corev1.Pod{}
	if err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, pod); err != nil {
		return fmt.Errorf("cannot read pod %s: %w", name, err)
	}
	ic, err := b.env.InstanceClient(ctx, namespace, rf.Name, pod.Status.PodIP)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return redistest.Wait(ctx, 100*time.Millisecond, func() error {
		s, err := ic.Status(ctx)
		if err != nil {
			return err
		}
		if s.Role != string(haredisv1.RolePrimary) {
			return fmt.Errorf("%s, labelled primary, reports role %s", name, s.Role)
		}
		return nil
	})
}

// onlyPrimaryLabel holds when pod is the one pod labelled primary.
func onlyPrimaryLabel(pod string) func([]any) bool {
	return func(objs []any) bool {
		var primaries []string
		for _, o := range objs {
			p, ok := o.(*corev1.Pod)
			if ok && p.DeletionTimestamp == nil && p.Labels[haredisv1.LabelRole] == string(haredisv1.RolePrimary) {
				primaries = append(primaries, p.Name)
			}
		}
		return len(primaries) == 1 && primaries[0] == pod
	}
}

// onlyReadyEndpoint holds when pod is the one ready endpoint of the
// EndpointSlices (an unknown readiness counts as ready, as the API says
// consumers should take it).
func onlyReadyEndpoint(pod string) func([]any) bool {
	return func(objs []any) bool {
		var targets []string
		for _, o := range objs {
			s, ok := o.(*discoveryv1.EndpointSlice)
			if !ok {
				continue
			}
			for _, e := range s.Endpoints {
				if e.TargetRef != nil && e.TargetRef.Kind == "Pod" && ptr.Deref(e.Conditions.Ready, true) {
					targets = append(targets, e.TargetRef.Name)
				}
			}
		}
		return len(targets) == 1 && targets[0] == pod
	}
}
