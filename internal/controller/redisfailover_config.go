package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instance"
	"github.com/haredis/haredis/internal/specs"
)

// applyConfig sends the parameter group and the durability settings of this
// generation to every running instance that has not had them (PUT /config).
// Redis changes what it can at run time; a refusal changes nothing and
// becomes ConfigInvalid with Redis's own message. Nothing restarts here:
// parameters that need a restart are reported by the instance and applied
// by the rolling update.
func (r *RedisFailoverReconciler) applyConfig(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	group := map[string]string{}
	for k, v := range rf.Spec.Redis.Config {
		group[k] = string(v)
	}
	changed := false
	for _, n := range st.instances {
		p := st.pods[n]
		if p == nil || st.statuses[n] == nil || !st.statuses[n].RedisUp {
			continue
		}
		applied, _ := strconv.ParseInt(p.Annotations[specs.AnnotationConfigGeneration], 10, 64)
		if applied >= rf.Generation {
			continue
		}
		refusal, err := r.putConfig(ctx, r.Reach.InstanceURL(rf, p), rf, group)
		if err != nil {
			log.FromContext(ctx).Info("cannot apply the parameter group; will retry", "instance", n, "generation", rf.Generation, "error", err.Error())
			continue
		}
		patch := client.MergeFrom(p.DeepCopy())
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[specs.AnnotationConfigGeneration] = strconv.FormatInt(rf.Generation, 10)
		if refusal != "" {
			p.Annotations[AnnotationConfigError] = refusal
			log.FromContext(ctx).Info("Redis refused the parameter group", "instance", n, "generation", rf.Generation, "redisError", refusal)
			r.event(rf, "Warning", "ConfigInvalid", "ApplyConfig", "%s refused the parameter group of generation %d: %s", n, rf.Generation, refusal)
		} else {
			delete(p.Annotations, AnnotationConfigError)
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

// putConfig returns Redis's refusal message ("" when accepted), or an error
// when the instance could not be asked.
func (r *RedisFailoverReconciler) putConfig(ctx context.Context, base string, rf *haredisv1.RedisFailover, group map[string]string) (string, error) {
	minReplicas, maxLag := rf.EffectiveDurability()
	body, err := json.Marshal(instance.PutConfigRequest{Generation: rf.Generation, Config: group,
		Durability: &instance.Durability{MinReplicasToWrite: int(minReplicas), MaxLagSeconds: int(maxLag.Seconds())}})
	if err != nil {
		return "", fmt.Errorf("cannot encode the parameter group: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := newRequest(ctx, http.MethodPut, base+"/config", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot PUT /config: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var e struct {
		Error      string `json:"error"`
		RedisError string `json:"redisError"`
		Directive  string `json:"directive"`
	}
	_ = json.Unmarshal(b, &e)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusConflict:
		// 409: the instance already has a newer group; nothing to do.
		return "", nil
	case http.StatusUnprocessableEntity:
		if e.RedisError != "" && e.Directive != "" {
			return fmt.Sprintf("Redis refused %s: %s", e.Directive, e.RedisError), nil
		}
		if e.RedisError != "" {
			return "Redis refused the parameter group: " + e.RedisError, nil
		}
		return e.Error, nil
	case http.StatusBadRequest:
		return e.Error, nil
	default:
		return "", fmt.Errorf("cannot PUT /config: status %d: %s", resp.StatusCode, e.Error)
	}
}

func newRequest(ctx context.Context, method, url string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, fmt.Errorf("cannot build request %s %s: %w", method, url, err)
	}
	return req, nil
}
