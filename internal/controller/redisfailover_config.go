package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/redisconf"
)

// desiredConfig is the parameter group and durability of rf as the
// instances must have them.
type desiredConfig struct {
	group      map[string]string
	hash       string
	durability instanceapi.Durability
}

func desired(rf *haredisv1.RedisFailover) desiredConfig {
	group := map[string]string{}
	for k, v := range rf.Spec.Redis.Config {
		group[k] = string(v)
	}
	d := desiredConfig{group: group}
	if norm, err := redisconf.NormalizeGroup(group); err == nil {
		d.hash = redisconf.Hash(norm)
	} else {
		d.hash = redisconf.Hash(group)
	}
	minReplicas, maxLag := rf.EffectiveDurability()
	d.durability = instanceapi.Durability{MinReplicasToWrite: int(minReplicas), MaxLagSeconds: int(maxLag.Seconds())}
	return d
}

// configDiffers tells how an instance's parameter group or durability
// differs from rf's ("" when it does not). During a switchover the target's
// live durability is lowered on purpose for a moment, so the live values
// are compared only outside one.
func configDiffers(rf *haredisv1.RedisFailover, want desiredConfig, s *instanceapi.Status) string {
	switch {
	case s.Config.Generation < rf.Generation:
		return fmt.Sprintf("has the parameter group of generation %d, not %d", s.Config.Generation, rf.Generation)
	case s.Config.DesiredHash != want.hash:
		return fmt.Sprintf("has a parameter group (hash %s) other than spec.redis.config (hash %s)", s.Config.DesiredHash, want.hash)
	case s.Durability != want.durability:
		return fmt.Sprintf("applies min-replicas-to-write %d / max-lag %ds, not %d / %ds", s.Durability.MinReplicasToWrite, s.Durability.MaxLagSeconds, want.durability.MinReplicasToWrite, want.durability.MaxLagSeconds)
	case s.DurabilityLive != nil && *s.DurabilityLive != want.durability && !switchoverUnderWay(rf):
		return fmt.Sprintf("runs with min-replicas-to-write %d / max-lag %ds, not %d / %ds", s.DurabilityLive.MinReplicasToWrite, s.DurabilityLive.MaxLagSeconds, want.durability.MinReplicasToWrite, want.durability.MaxLagSeconds)
	}
	return ""
}

// isDrift tells whether an instance that differs from rf was changed
// behind the operator's back: it had been given this generation, by a PUT
// the pod records (sent) or by instance.json when it started (which the
// pod may not record yet), and runs something else now.
func isDrift(rf *haredisv1.RedisFailover, s *instanceapi.Status, sent int64) bool {
	return sent >= rf.Generation || s.Config.Generation >= rf.Generation
}

func switchoverUnderWay(rf *haredisv1.RedisFailover) bool {
	return rf.Status.TargetPrimary != "" && rf.Status.TargetPrimary != rf.Status.CurrentPrimary
}

// applyConfig keeps every instance on the parameter group and durability
// of rf: it sends them (PUT /config) to every instance that reports
// anything else: a new generation, or a running instance whose settings
// were changed behind the operator's back, which are put back with a
// warning event. Redis changes what it can at run time; a refusal changes
// nothing and becomes ConfigInvalid with Redis's own message, and the same
// generation is not sent again. Nothing restarts here: parameters that
// need a restart are reported by the instance and applied by the rolling
// update.
func (r *RedisFailoverReconciler) applyConfig(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	want := desired(rf)
	changed := false
	for _, n := range st.instances {
		p, s := st.pods[n], st.statuses[n]
		if p == nil || s == nil {
			continue
		}
		diff := configDiffers(rf, want, s)
		sent, _ := strconv.ParseInt(p.Annotations[haredisv1.AnnotationConfigGeneration], 10, 64)
		refused := sent == rf.Generation && p.Annotations[haredisv1.AnnotationConfigError] != ""
		if diff == "" && sent < rf.Generation {
			// In force without a PUT (a new pod reads it from instance.json):
			// record it, so that a later difference counts as drift.
			patch := client.MergeFrom(p.DeepCopy())
			if p.Annotations == nil {
				p.Annotations = map[string]string{}
			}
			p.Annotations[haredisv1.AnnotationConfigGeneration] = strconv.FormatInt(rf.Generation, 10)
			if err := r.Patch(ctx, p, patch); err != nil {
				return ctrl.Result{}, fmt.Errorf("cannot record the config generation in force on %s: %w", n, err)
			}
			continue
		}
		if diff == "" || refused {
			continue
		}
		drift := isDrift(rf, s, sent)
		res, err := r.instanceClient(rf, p, st).PutConfig(ctx, instanceapi.PutConfigRequest{Generation: rf.Generation, Config: want.group, Durability: &want.durability})
		refusal := refusalOf(err)
		if err != nil && refusal == "" {
			log.FromContext(ctx).Info("cannot apply the parameter group; will retry", "instance", n, "generation", rf.Generation, "error", err.Error())
			continue
		}
		patch := client.MergeFrom(p.DeepCopy())
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[haredisv1.AnnotationConfigGeneration] = strconv.FormatInt(rf.Generation, 10)
		switch {
		case refusal != "":
			p.Annotations[haredisv1.AnnotationConfigError] = refusal
			log.FromContext(ctx).Info("Redis refused the parameter group", "instance", n, "generation", rf.Generation, "redisError", refusal)
			r.eventOn(rf, p, corev1.EventTypeWarning, haredisv1.EventConfigInvalid, "ApplyConfig", "%s refused the parameter group of generation %d: %s", n, rf.Generation, refusal)
		case drift:
			delete(p.Annotations, haredisv1.AnnotationConfigError)
			log.FromContext(ctx).Info("restored the parameter group and durability changed behind the operator's back", "instance", n, "found", diff)
			r.eventOn(rf, p, corev1.EventTypeWarning, haredisv1.EventConfigRestored, "ApplyConfig",
				"%s %s; restored spec.redis.config and spec.durability (applied live: %d parameters)", n, diff, len(res.Applied))
		default:
			delete(p.Annotations, haredisv1.AnnotationConfigError)
			log.FromContext(ctx).Info("applied the parameter group", "instance", n, "generation", rf.Generation)
		}
		if err := r.Patch(ctx, p, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("cannot record the applied config generation on %s: %w", n, err)
		}
		changed = true
	}
	if changed {
		// Report the outcome now rather than at the next period.
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}
	return ctrl.Result{}, nil
}

// refusalOf returns the message of a group the instance refused (Redis's
// own words for 422, the manager's for 400), "" for any other outcome.
func refusalOf(err error) string {
	var e *instanceapi.Error
	if !errors.As(err, &e) {
		return ""
	}
	switch e.Code {
	case http.StatusUnprocessableEntity:
		switch {
		case e.Body.RedisError != "" && e.Body.Directive != "":
			return fmt.Sprintf("Redis refused %s: %s", e.Body.Directive, e.Body.RedisError)
		case e.Body.RedisError != "":
			return "Redis refused the parameter group: " + e.Body.RedisError
		}
		return e.Body.Error
	case http.StatusBadRequest:
		return e.Body.Error
	}
	return ""
}

// instanceClient talks to the manager of pod with the manager token.
func (r *RedisFailoverReconciler) instanceClient(rf *haredisv1.RedisFailover, pod *corev1.Pod, st *state) *instanceapi.Client {
	return &instanceapi.Client{BaseURL: r.Reach.InstanceURL(rf, pod), Token: st.token, HTTP: r.HTTP}
}
