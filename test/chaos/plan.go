package chaos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"
)

// Kind names an operation or a fault.
type Kind string

// The operations and faults a sequence draws from.
const (
	// KillRedis: SIGKILL of redis-server, the instance manager's child (its
	// PID is in GET /status redisPID). Target primary or replica.
	KillRedis Kind = "kill-redis"
	// KillManager: SIGKILL of the instance manager, the container's main
	// process (redis-server dies with it; the kubelet restarts the container).
	KillManager Kind = "kill-manager"
	// KillSentinel: SIGKILL of a sentinel container's main process.
	KillSentinel Kind = "kill-sentinel"
	// DeletePod: deletion of one pod, graceful or forced (grace 0). Target
	// primary, replica or sentinel.
	DeletePod Kind = "delete-pod"
	// DeleteAll: every pod of the RedisFailover at once (instances,
	// sentinels, proxies), graceful or forced.
	DeleteAll Kind = "delete-all"
	// Recreate: delete the RedisFailover, wait for its pods to go, and
	// create it again with the same spec on the kept volumes.
	Recreate Kind = "recreate"
	// Partition: the primary's pod cut off from the network, healed after
	// Hold.
	Partition Kind = "partition"
	// Double: a second fault Delay after the first, before any recovery.
	Double Kind = "double"
	// Switchover: status.targetPrimary set to a replica, as `kubectl
	// haredis promote` does.
	Switchover Kind = "switchover"
	// Scale: spec.redis.replicas changed (3->4, 4->3, 3->2, 2->3).
	Scale Kind = "scale"
	// Config: spec.redis.config changed (live parameters).
	Config Kind = "config"
	// Durability: spec.durability changed.
	Durability Kind = "durability"
	// Persistence: spec.redis.persistence AOF <-> RDB.
	Persistence Kind = "persistence"
	// Rolling: spec.redis.resources changed, which replaces every pod.
	Rolling Kind = "rolling-update"
	// OperatorDownSwitchover: the operator stopped Delay after a switchover
	// was asked for, started again after Hold.
	OperatorDownSwitchover Kind = "operator-down-switchover"
	// OperatorDownRolling: the operator stopped Delay after a rolling update
	// began, started again after Hold.
	OperatorDownRolling Kind = "operator-down-rolling"
	// DeleteAuthSecret: the Secret NAME-auth deleted.
	DeleteAuthSecret Kind = "delete-auth-secret"
)

// Targets and modes of steps.
const (
	TargetPrimary  = "primary"
	TargetReplica  = "replica"
	TargetSentinel = "sentinel"

	ModeGraceful = "graceful"
	ModeForced   = "forced"
	// ModeScaleZero stops the operator by scaling its Deployment to 0 and
	// starts it again by scaling it to 1 after Hold.
	ModeScaleZero = "scale0"
	// ModeKill SIGKILLs the operator's container; its kubelet restarts it.
	ModeKill = "kill"
)

// Step is one named operation or fault with its parameters. Everything in
// it is drawn from the seed; which pod "primary" or "replica[1]" is is
// resolved when the step runs.
type Step struct {
	Kind   Kind   `json:"kind"`
	Target string `json:"target,omitempty"`
	// Index picks among replicas or sentinels (sorted by name, modulo their
	// number when the step runs).
	Index int    `json:"index,omitempty"`
	Mode  string `json:"mode,omitempty"`
	// Hold: how long a partition or an operator outage lasts.
	Hold time.Duration `json:"hold,omitempty"`
	// Delay: how long after the first fault the second comes (Double), or
	// after the operation began the operator stops.
	Delay time.Duration `json:"delay,omitempty"`
	// From, To: instance counts of a scale.
	From int32 `json:"from,omitempty"`
	To   int32 `json:"to,omitempty"`
	// MinReplicasToWrite, MaxLag: spec.durability after the step (nil:
	// unset, the default). Scale sets them when the count requires it.
	MinReplicasToWrite *int32         `json:"minReplicasToWrite,omitempty"`
	MaxLag             *time.Duration `json:"maxLag,omitempty"`
	SetDurability      bool           `json:"setDurability,omitempty"`
	// Config: spec.redis.config after the step.
	Config map[string]string `json:"config,omitempty"`
	// Persistence after the step.
	Persistence string `json:"persistence,omitempty"`
	// CPU: the Redis containers' CPU request after a rolling update.
	CPU string `json:"cpu,omitempty"`
	// First, Second: the faults of a Double.
	First  *Step `json:"first,omitempty"`
	Second *Step `json:"second,omitempty"`
}

// Planned tells whether the step is a planned operation, which must lose no
// acknowledged write. Operations that stop no Redis process (a graceful
// deletion of a replica or a sentinel, the auth Secret deleted, the
// operator stopped during a planned operation) count as planned too: the
// data path is untouched, so nothing may be lost.
func (s Step) Planned() bool {
	switch s.Kind {
	case Switchover, Scale, Config, Durability, Persistence, Rolling, OperatorDownSwitchover, OperatorDownRolling, DeleteAuthSecret:
		return true
	case DeletePod:
		return s.Mode == ModeGraceful && s.Target != TargetPrimary
	}
	return false
}

// Class is "planned" or "unplanned".
func (s Step) Class() string {
	if s.Planned() {
		return "planned"
	}
	return "unplanned"
}

func (s Step) target() string {
	if s.Target == TargetPrimary {
		return s.Target
	}
	return fmt.Sprintf("%s[%d]", s.Target, s.Index)
}

// Name renders the step with its parameters, e.g. "kill-redis primary",
// "partition primary 7s", "scale 3->4".
func (s Step) Name() string {
	sec := func(d time.Duration) string { return d.Round(100 * time.Millisecond).String() }
	switch s.Kind {
	case KillRedis, KillManager:
		return fmt.Sprintf("%s %s", s.Kind, s.target())
	case KillSentinel:
		return fmt.Sprintf("%s sentinel[%d]", s.Kind, s.Index)
	case DeletePod:
		return fmt.Sprintf("%s %s %s", s.Kind, s.target(), s.Mode)
	case DeleteAll:
		return fmt.Sprintf("%s %s", s.Kind, s.Mode)
	case Partition:
		return fmt.Sprintf("%s primary %s", s.Kind, sec(s.Hold))
	case Double:
		return fmt.Sprintf("%s: %s, +%s %s", s.Kind, s.First.Name(), sec(s.Delay), s.Second.Name())
	case Switchover:
		return fmt.Sprintf("%s to replica[%d]", s.Kind, s.Index)
	case Scale:
		n := fmt.Sprintf("%s %d->%d", s.Kind, s.From, s.To)
		if s.SetDurability {
			n += " " + durabilityString(s.MinReplicasToWrite, s.MaxLag)
		}
		return n
	case Config:
		return fmt.Sprintf("%s %s", s.Kind, configString(s.Config))
	case Durability:
		return fmt.Sprintf("%s %s", s.Kind, durabilityString(s.MinReplicasToWrite, s.MaxLag))
	case Persistence:
		return fmt.Sprintf("%s %s", s.Kind, s.Persistence)
	case Rolling:
		return fmt.Sprintf("%s cpu=%s", s.Kind, s.CPU)
	case OperatorDownSwitchover, OperatorDownRolling:
		what := fmt.Sprintf("to replica[%d]", s.Index)
		if s.Kind == OperatorDownRolling {
			what = "cpu=" + s.CPU
		}
		down := fmt.Sprintf("operator scaled to 0 after %s for %s", sec(s.Delay), sec(s.Hold))
		if s.Mode == ModeKill {
			down = fmt.Sprintf("operator SIGKILLed after %s", sec(s.Delay))
		}
		return fmt.Sprintf("%s %s, %s", s.Kind, what, down)
	}
	return string(s.Kind)
}

func durabilityString(m *int32, l *time.Duration) string {
	a, b := "unset", "unset"
	if m != nil {
		a = fmt.Sprint(*m)
	}
	if l != nil {
		b = l.String()
	}
	return fmt.Sprintf("minReplicasToWrite=%s maxLag=%s", a, b)
}

func configString(c map[string]string) string {
	if len(c) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, c[k]))
	}
	return strings.Join(parts, " ")
}

// Plan is a seeded sequence: the RedisFailover's starting shape and its
// steps. The same seed and step count always give the same plan, and a
// longer plan of a seed begins with the shorter one.
type Plan struct {
	Seed        uint64 `json:"seed"`
	Replicas    int32  `json:"replicas"`
	Persistence string `json:"persistence"`
	Steps       []Step `json:"steps"`
}

// String lists the plan, one step a line.
func (p Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %d instances, persistence %s\n", p.Seed, p.Replicas, p.Persistence)
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "  %2d. [%s] %s\n", i+1, s.Class(), s.Name())
	}
	return b.String()
}

// model is what the plan knows of the spec, so that every step it draws is
// valid for the spec it will meet.
type model struct {
	replicas    int32
	persistence string
	minReplicas *int32
	maxLag      *time.Duration
	config      map[string]string
	cpu         string
}

// choice is one kind of step with its weight; ok tells whether it can be
// drawn for the model.
type choice struct {
	weight int
	ok     func(m *model) bool
	draw   func(r *rand.Rand, m *model) Step
}

// NewPlan draws the plan of a seed.
func NewPlan(seed uint64, steps int) Plan {
	// Consecutive seeds are mixed first (splitmix64), so that seeds 1, 2, 3
	// give unrelated plans.
	r := rand.New(rand.NewPCG(splitmix(seed), splitmix(seed^0x6861726564697321)))
	p := Plan{Seed: seed, Replicas: 3, Persistence: "AOF"}
	// Most sequences start with three instances and AOF, the defaults; some
	// with RDB, some with a single replica.
	if r.IntN(4) == 0 {
		p.Persistence = "RDB"
	}
	if r.IntN(6) == 0 {
		p.Replicas = 2
	}
	m := &model{replicas: p.Replicas, persistence: p.Persistence, config: map[string]string{}, cpu: ""}
	for range steps {
		p.Steps = append(p.Steps, drawStep(r, m))
	}
	return p
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func drawStep(r *rand.Rand, m *model) Step {
	var total int
	var ok []choice
	for _, c := range choices {
		if c.ok == nil || c.ok(m) {
			ok = append(ok, c)
			total += c.weight
		}
	}
	n := r.IntN(total)
	for _, c := range ok {
		if n < c.weight {
			return c.draw(r, m)
		}
		n -= c.weight
	}
	panic("unreachable")
}

func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1)).Round(100*time.Millisecond)
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// simpleFault draws one unplanned fault of a single pod, the kind a Double
// composes.
func simpleFault(r *rand.Rand, m *model) Step {
	switch r.IntN(7) {
	case 0, 1:
		return target(r, m, Step{Kind: KillRedis}, TargetPrimary, TargetPrimary, TargetReplica)
	case 2:
		return target(r, m, Step{Kind: KillManager}, TargetPrimary, TargetReplica)
	case 3:
		return target(r, m, Step{Kind: KillSentinel}, TargetSentinel)
	case 4:
		return target(r, m, Step{Kind: DeletePod, Mode: ModeForced}, TargetPrimary, TargetReplica, TargetSentinel)
	case 5:
		return Step{Kind: DeletePod, Target: TargetPrimary, Mode: ModeGraceful}
	default:
		return Step{Kind: Partition, Target: TargetPrimary, Hold: between(r, 2*time.Second, 8*time.Second)}
	}
}

// target draws the step's target among ts and, for a replica or a
// sentinel, which one (the index is drawn within the count the model
// expects, and taken modulo the real count when the step runs).
func target(r *rand.Rand, m *model, s Step, ts ...string) Step {
	s.Target = pick(r, ts...)
	switch s.Target {
	case TargetReplica:
		s.Index = r.IntN(int(m.replicas) - 1)
	case TargetSentinel:
		s.Index = r.IntN(3)
	}
	return s
}

var cpus = []string{"10m", "20m", "30m", "40m"}

var configOptions = map[string][]string{
	"notify-keyspace-events": {"", "gxE"},
	"maxmemory-policy":       {"", "noeviction", "allkeys-lru", "volatile-lru"},
	"hz":                     {"", "10", "20"},
}

var choices = []choice{
	{weight: 10, draw: func(r *rand.Rand, m *model) Step {
		return target(r, m, Step{Kind: KillRedis}, TargetPrimary, TargetReplica)
	}},
	{weight: 5, draw: func(r *rand.Rand, m *model) Step {
		return target(r, m, Step{Kind: KillManager}, TargetPrimary, TargetReplica)
	}},
	{weight: 3, draw: func(r *rand.Rand, m *model) Step { return target(r, m, Step{Kind: KillSentinel}, TargetSentinel) }},
	{weight: 8, draw: func(r *rand.Rand, m *model) Step {
		return target(r, m, Step{Kind: DeletePod, Mode: pick(r, ModeGraceful, ModeForced)}, TargetPrimary, TargetReplica, TargetSentinel)
	}},
	{weight: 3, draw: func(r *rand.Rand, _ *model) Step {
		return Step{Kind: DeleteAll, Mode: pick(r, ModeGraceful, ModeForced)}
	}},
	{weight: 2, draw: func(*rand.Rand, *model) Step { return Step{Kind: Recreate} }},
	{weight: 5, draw: func(r *rand.Rand, _ *model) Step {
		return Step{Kind: Partition, Target: TargetPrimary, Hold: between(r, 3*time.Second, 15*time.Second)}
	}},
	{weight: 5, draw: func(r *rand.Rand, m *model) Step {
		first := simpleFault(r, m)
		second := simpleFault(r, m)
		return Step{Kind: Double, First: &first, Second: &second, Delay: between(r, time.Second, 5*time.Second)}
	}},
	{weight: 6, draw: func(r *rand.Rand, m *model) Step { return Step{Kind: Switchover, Index: r.IntN(int(m.replicas) - 1)} }},
	{weight: 4, draw: func(r *rand.Rand, m *model) Step {
		s := Step{Kind: Scale, From: m.replicas}
		switch {
		case m.replicas <= 2:
			s.To = m.replicas + 1
		case m.replicas >= 4:
			s.To = m.replicas - 1
		default:
			s.To = pick(r, m.replicas+1, m.replicas-1)
		}
		// The schema refuses minReplicasToWrite >= replicas: lower it with
		// the scale when the new count needs it.
		if m.minReplicas != nil && *m.minReplicas >= s.To {
			v := s.To - 1
			m.minReplicas = &v
			s.SetDurability, s.MinReplicasToWrite, s.MaxLag = true, m.minReplicas, m.maxLag
		}
		m.replicas = s.To
		return s
	}},
	{weight: 3, draw: func(r *rand.Rand, m *model) Step {
		for {
			c := map[string]string{}
			for _, k := range []string{"hz", "maxmemory-policy", "notify-keyspace-events"} {
				if v := pick(r, configOptions[k]...); v != "" {
					c[k] = v
				}
			}
			if configString(c) != configString(m.config) {
				m.config = c
				return Step{Kind: Config, Config: c}
			}
		}
	}},
	{weight: 3, draw: func(r *rand.Rand, m *model) Step {
		for {
			var mr *int32
			if n := r.IntN(int(m.replicas) + 1); n < int(m.replicas) {
				v := int32(n)
				mr = &v
			}
			var ml *time.Duration
			if l := pick(r, 0, 5, 10, 20); l > 0 {
				d := time.Duration(l) * time.Second
				ml = &d
			}
			s := Step{Kind: Durability, MinReplicasToWrite: mr, MaxLag: ml, SetDurability: true}
			if durabilityString(mr, ml) != durabilityString(m.minReplicas, m.maxLag) {
				m.minReplicas, m.maxLag = mr, ml
				return s
			}
		}
	}},
	{weight: 2, draw: func(_ *rand.Rand, m *model) Step {
		if m.persistence == "AOF" {
			m.persistence = "RDB"
		} else {
			m.persistence = "AOF"
		}
		return Step{Kind: Persistence, Persistence: m.persistence}
	}},
	{weight: 2, draw: func(r *rand.Rand, m *model) Step {
		m.cpu = pick(r, slices.DeleteFunc(slices.Clone(cpus), func(c string) bool { return c == m.cpu })...)
		return Step{Kind: Rolling, CPU: m.cpu}
	}},
	{weight: 3, draw: func(r *rand.Rand, m *model) Step {
		return Step{Kind: OperatorDownSwitchover, Index: r.IntN(int(m.replicas) - 1), Mode: pick(r, ModeScaleZero, ModeKill),
			Delay: between(r, 0, 1500*time.Millisecond), Hold: between(r, 5*time.Second, 20*time.Second)}
	}},
	{weight: 2, draw: func(r *rand.Rand, m *model) Step {
		m.cpu = pick(r, slices.DeleteFunc(slices.Clone(cpus), func(c string) bool { return c == m.cpu })...)
		return Step{Kind: OperatorDownRolling, CPU: m.cpu, Mode: pick(r, ModeScaleZero, ModeKill),
			Delay: between(r, 2*time.Second, 12*time.Second), Hold: between(r, 5*time.Second, 20*time.Second)}
	}},
	{weight: 2, draw: func(*rand.Rand, *model) Step { return Step{Kind: DeleteAuthSecret} }},
}
