package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/engine"
	"github.com/haredis/haredis/internal/instanceapi"
)

// checkImage compares the server spec.redis.image names, when its tag
// tells (valkey/valkey:8.0, redis:7.2.4), with what every instance runs,
// before the rolling update replaces any pod: a move the data would not
// survive (an unsupported version, a downgrade, an RDB format the new
// server cannot read) stops the rolling update with ImageAccepted False
// and an event. When the tag does not tell (latest, a digest, a private
// repository), the instance managers check the server they start and
// refuse it on a volume it cannot read.
func (r *RedisFailoverReconciler) checkImage(_ context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	to, ok := engine.FromImage(rf.Spec.Redis.Image)
	if !ok {
		return ctrl.Result{}, nil
	}
	for _, from := range runningServers(st) {
		if err := engine.CheckMove(from, to); err != nil {
			st.moveRefused = fmt.Sprintf("spec.redis.image %s: %v; set spec.redis.image back, or to an image that can take over", rf.Spec.Redis.Image, err)
			break
		}
	}
	if st.moveRefused != "" && !moveRefusedBefore(rf) {
		r.event(rf, corev1.EventTypeWarning, haredisv1.ReasonMoveRefused, "Update", "%s", st.moveRefused)
	}
	return ctrl.Result{}, nil
}

// runningServers are the distinct servers the instances report.
func runningServers(st *state) []engine.Server {
	seen := map[engine.Server]bool{}
	var out []engine.Server
	for _, n := range st.instances {
		s := serverOf(st.statuses[n])
		if s.Known() && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// serverOf is the server an instance manager reports, unknown when none.
func serverOf(s *instanceapi.Status) engine.Server {
	if s == nil || s.Engine == "" {
		return engine.Server{}
	}
	v, err := engine.ParseVersion(s.EngineVersion)
	if err != nil {
		return engine.Server{}
	}
	return engine.Server{Engine: engine.Name(s.Engine), Version: v}
}

func moveRefusedBefore(rf *haredisv1.RedisFailover) bool {
	for _, c := range rf.Status.Conditions {
		if c.Type == haredisv1.ConditionImageAccepted {
			return c.Reason == haredisv1.ReasonMoveRefused
		}
	}
	return false
}

// imageAccepted is the ImageAccepted condition: the operator's refusal of
// a move, else the instance managers' refusals of their server.
func imageAccepted(st *state) (string, bool, string, string) {
	if st.moveRefused != "" {
		return haredisv1.ConditionImageAccepted, false, haredisv1.ReasonMoveRefused, st.moveRefused + "; no pod was restarted for it"
	}
	var refused []string
	for _, n := range st.instances {
		if s := st.statuses[n]; s != nil && s.Refused != "" {
			refused = append(refused, n+": "+s.Refused)
		}
	}
	if len(refused) > 0 {
		return haredisv1.ConditionImageAccepted, false, haredisv1.ReasonServerRefused, strings.Join(refused, "; ")
	}
	servers := runningServers(st)
	names := make([]string, len(servers))
	for i, s := range servers {
		names[i] = s.String()
	}
	msg := "the instances run " + strings.Join(names, " and ")
	if len(servers) == 0 {
		msg = "no instance reports its server yet"
	}
	return haredisv1.ConditionImageAccepted, true, haredisv1.ReasonImageAccepted, msg
}
