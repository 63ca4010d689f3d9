package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/haredis/haredis/internal/sentinel"
	"github.com/haredis/haredis/internal/specs"
)

// lostWrite is an acknowledged write found missing.
type lostWrite struct {
	w *writer
	a ack
}

// checkData reads every acknowledged write back from the primary and
// attributes the newly missing ones to the step: a planned step may lose
// none; an unplanned one those acknowledged from its loss window on.
func (r *runner) checkData(ctx context.Context, st *stepRun, sr *StepResult) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last error
	for {
		if last = r.readBack(ctx, st, sr); last == nil {
			return
		}
		if sleepCtx(ctx, time.Second) != nil {
			st.note("cannot read the writes back: %v", last)
			r.res.Violations = append(r.res.Violations, fmt.Sprintf("step %d (%s): cannot read the writes back from the primary: %v", st.idx, st.step.Name(), last))
			return
		}
	}
}

func (r *runner) readBack(ctx context.Context, st *stepRun, sr *StepResult) error {
	rf, err := r.getRF(ctx)
	if err != nil {
		return err
	}
	name := rf.Status.CurrentPrimary
	p, err := r.pod(ctx, name)
	if err != nil {
		return err
	}
	c := r.plainClient(net.JoinHostPort(p.Status.PodIP, "6379"))
	defer c.Close()
	role, err := c.Do(ctx, "ROLE").Slice()
	if err != nil {
		return fmt.Errorf("ROLE of %s: %w", name, err)
	}
	if len(role) == 0 || role[0] != "master" {
		return fmt.Errorf("%s is not master: ROLE %v", name, role)
	}
	var missing []lostWrite
	total := 0
	for _, w := range []*writer{r.sw, r.uw} {
		acks := w.snapshot()
		total += len(acks)
		m, err := w.missing(ctx, c, acks, r.lost)
		if err != nil {
			return err
		}
		for _, a := range m {
			missing = append(missing, lostWrite{w, a})
		}
	}
	dbsize, err := c.DBSize(ctx).Result()
	if err != nil {
		return fmt.Errorf("DBSIZE of %s: %w", name, err)
	}
	var planned, inWindow, old []lostWrite
	for _, m := range missing {
		r.lost[m.w.key(m.a.seq)] = true
		switch st.classify(m.a) {
		case lossPlanned:
			planned = append(planned, m)
		case lossInWindow:
			inWindow = append(inWindow, m)
		default:
			old = append(old, m)
		}
	}
	sr.LostPlanned += len(planned)
	sr.LostUnplanned += len(inWindow) + len(old)
	sr.LostOld += len(old)
	r.logf("chaos: step %d: %d acknowledged writes read back from %s: %d newly missing (planned %d, unplanned in window %d, outside %d), %d keys there, %d lost so far",
		st.idx, total, name, len(missing), len(planned), len(inWindow), len(old), dbsize, len(r.lost))
	if int(dbsize) < total-len(r.lost) {
		st.note("the primary %s holds %d keys, fewer than the %d acknowledged and not lost", name, dbsize, total-len(r.lost))
		r.res.Violations = append(r.res.Violations, fmt.Sprintf("step %d (%s): the primary %s holds %d keys, fewer than the %d acknowledged writes not lost before", st.idx, st.step.Name(), name, dbsize, total-len(r.lost)))
	}
	if len(missing) > 0 {
		st.note("lost %d acknowledged writes: %s", len(missing), describeLost(missing, st))
	}
	if len(planned) > 0 {
		r.res.Violations = append(r.res.Violations, fmt.Sprintf("step %d (%s, planned) lost %d acknowledged writes: %s", st.idx, st.step.Name(), len(planned), describeLost(planned, st)))
	}
	if len(old) > 0 {
		r.res.Violations = append(r.res.Violations, fmt.Sprintf("step %d (%s, unplanned) lost %d acknowledged writes from before its loss window (first fault %s, window from %s): an older data set made primary? %s",
			st.idx, st.step.Name(), len(old), clock(st.firstFault), clock(st.lossFrom), describeLost(old, st)))
	}
	return nil
}

type lossClass int

const (
	// lossPlanned: lost by a planned step, never allowed.
	lossPlanned lossClass = iota
	// lossInWindow: lost by an unplanned step, acknowledged in its loss
	// window: counted, allowed.
	lossInWindow
	// lossOld: lost by an unplanned step but acknowledged before its loss
	// window: the data set made primary was older than what had been
	// acknowledged.
	lossOld
)

// classify says how a lost write, found missing after the step, counts.
func (st *stepRun) classify(a ack) lossClass {
	switch {
	case st.step.Planned():
		return lossPlanned
	case st.noOldCheck || (!st.lossFrom.IsZero() && !a.at.Before(st.lossFrom)):
		return lossInWindow
	}
	return lossOld
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.Format("15:04:05.000")
}

// describeLost summarises lost writes: how many per writer and per step of
// acknowledgment, and the first and last with their time relative to the
// step's first fault.
func describeLost(ls []lostWrite, st *stepRun) string {
	byStep := map[string]int{}
	for _, l := range ls {
		byStep[fmt.Sprintf("%s acked in step %d", l.w.name, l.a.step)]++
	}
	keys := make([]string, 0, len(byStep))
	for k := range byStep {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", byStep[k], k))
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].a.at.Before(ls[j].a.at) })
	rel := func(l lostWrite) string {
		s := fmt.Sprintf("%s at %s", l.w.key(l.a.seq), clock(l.a.at))
		if !st.firstFault.IsZero() {
			s += fmt.Sprintf(" (%+dms from the first fault)", l.a.at.Sub(st.firstFault).Milliseconds())
		}
		return s
	}
	return fmt.Sprintf("%s; first %s, last %s", strings.Join(parts, ", "), rel(ls[0]), rel(ls[len(ls)-1]))
}

func (r *runner) sentinelClient1(addr string) *redis.SentinelClient {
	user, pw := "", r.pw
	if r.pool != "" {
		// The pool's admin user: its readers may not list the masters.
		user, pw = sentinel.PoolAdminUser, r.poolPW
	}
	return redis.NewSentinelClient(&redis.Options{Addr: addr, Username: user, Password: pw, Dialer: r.env.Dial, MaxRetries: -1,
		DialTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 2 * time.Second})
}

// checkTopology checks that every sentinel monitors this RedisFailover
// only, and names as its primary and replicas only this RedisFailover's
// instances, and that every replica follows one of them.
func (r *runner) checkTopology(ctx context.Context, st *stepRun) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rf, err := r.getRF(ctx)
	if err != nil {
		st.note("cannot check the sentinels: %v", err)
		return
	}
	hosts := map[string]bool{}
	for _, is := range rf.Status.Instances {
		hosts[specs.InstanceHost(rf, is.Name)] = true
	}
	suffix := "." + rf.HeadlessServiceName() + "." + r.ns + ".svc.cluster.local"
	violation := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		st.note("%s", msg)
		r.res.Violations = append(r.res.Violations, fmt.Sprintf("step %d (%s): %s", st.idx, st.step.Name(), msg))
	}
	sentinels, err := r.pods(ctx, specs.ComponentSentinel)
	if err != nil {
		st.note("cannot list the sentinels: %v", err)
		return
	}
	for _, p := range sentinels {
		sc := r.sentinelClient1(net.JoinHostPort(p.Status.PodIP, "26379"))
		masters, err := sc.Masters(ctx).Result()
		if err != nil {
			st.note("sentinel %s: SENTINEL MASTERS: %v", p.Name, err)
			sc.Close()
			continue
		}
		if len(masters) != 1 {
			violation("sentinel %s monitors %d masters", p.Name, len(masters))
		}
		addr, err := sc.GetMasterAddrByName(ctx, r.masterName).Result()
		switch {
		case err != nil:
			st.note("sentinel %s: SENTINEL GET-MASTER-ADDR-BY-NAME: %v", p.Name, err)
		case len(addr) < 1 || !hosts[addr[0]]:
			violation("sentinel %s names master %v, which is none of this RedisFailover's instances %v", p.Name, addr, sortedNames(hosts))
		}
		replicas, err := sc.Replicas(ctx, r.masterName).Result()
		if err != nil {
			st.note("sentinel %s: SENTINEL REPLICAS: %v", p.Name, err)
		}
		for _, rep := range replicas {
			if !strings.HasSuffix(rep["ip"], suffix) {
				violation("sentinel %s knows replica %s, which is not of this RedisFailover", p.Name, rep["ip"])
			}
		}
		sc.Close()
	}
	instances, err := r.pods(ctx, specs.ComponentRedis)
	if err != nil {
		return
	}
	for _, p := range instances {
		s, err := r.instanceStatus(ctx, &p)
		if err != nil {
			st.note("instance %s: %v", p.Name, err)
			continue
		}
		if s.Role == "replica" && !hosts[s.MasterHost] {
			violation("instance %s replicates %s, which is none of this RedisFailover's instances", p.Name, s.MasterHost)
		}
	}
}

// diagnose prints what a stuck step needs to tell why: the RedisFailover's
// status, every pod with its containers, each instance's manager status,
// each sentinel's view, the end of every container's log and the
// operator's log.
func (r *runner) diagnose(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if r.ns == "" {
		return
	}
	if rf, err := r.getRF(ctx); err == nil {
		b, _ := json.MarshalIndent(rf.Status, "", "  ")
		r.logf("chaos: diagnosis: RedisFailover %s/%s generation %d spec.redis.replicas %d status:\n%s", r.ns, r.name, rf.Generation, rf.Spec.Redis.Replicas, b)
	} else {
		r.logf("chaos: diagnosis: RedisFailover: %v", err)
	}
	out, err := r.env.Kubectl(ctx, "get", "pods", "-o", "wide", "-n", r.ns)
	r.logf("chaos: diagnosis: pods of %s (%v):\n%s", r.ns, err, out)
	var pods corev1.PodList
	if err := r.kc.List(ctx, &pods, client.InNamespace(r.ns)); err != nil {
		r.logf("chaos: diagnosis: cannot list pods: %v", err)
	}
	for _, p := range pods.Items {
		st, _ := json.Marshal(p.Status.ContainerStatuses)
		r.logf("chaos: diagnosis: pod %s: phase %s, deleting %v, ip %s, containers %s", p.Name, p.Status.Phase, p.DeletionTimestamp != nil, p.Status.PodIP, st)
		switch p.Labels[specs.LabelComponent] {
		case specs.ComponentRedis:
			if s, err := r.instanceStatus(ctx, &p); err == nil {
				b, _ := json.Marshal(s)
				r.logf("chaos: diagnosis: instance %s status: %s", p.Name, b)
			} else {
				r.logf("chaos: diagnosis: instance %s status: %v", p.Name, err)
			}
		case specs.ComponentSentinel:
			sc := r.sentinelClient1(net.JoinHostPort(p.Status.PodIP, "26379"))
			m, err := sc.Master(ctx, r.masterName).Result()
			r.logf("chaos: diagnosis: sentinel %s SENTINEL MASTER %s: %v %v", p.Name, r.masterName, m, err)
			sc.Close()
		}
		for _, c := range p.Spec.Containers {
			logs, err := r.env.Kubectl(ctx, "logs", "-n", r.ns, p.Name, "-c", c.Name, "--tail=60")
			r.logf("chaos: diagnosis: log of %s/%s (%v):\n%s", p.Name, c.Name, err, logs)
		}
	}
	r.logf("chaos: diagnosis: operator log (last 400 lines):\n%s", r.env.OperatorLog(ctx, 400))
	if pods, err := r.env.OperatorPods(ctx); err == nil {
		for _, p := range pods {
			st, _ := json.Marshal(p.Status.ContainerStatuses)
			r.logf("chaos: diagnosis: operator pod %s ready %v containers %s", p.Name, podReady(&p), st)
		}
	}
}
