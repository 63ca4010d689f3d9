package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/haredis/haredis/internal/specs"

	"github.com/haredis/haredis/test/operatorbed"
)

// hintMessages are the operator's log messages for a Sentinel hint: about
// a primary (+sdown, -sdown, +odown) or a role (+role-change,
// +convert-to-slave). After one the operator looks at that RedisFailover
// every 250 ms for hintWindow (the controller's constant of that name),
// which shows in the reconciles and status writes of a window.
var hintMessages = map[string]bool{"sentinel hint about the master": true, "sentinel hint about a role": true}

const hintWindow = 15 * time.Second

// window is a span of the run.
type window struct{ from, to time.Time }

// countHints counts the Sentinel hints in the operator's log that make the
// operator look closely during each window: those in it and in the
// hintWindow before it. The log's timestamps are whole seconds, so a
// count may be off by the hints of one second at either end.
func (b *bench) countHints(ctx context.Context, ws ...window) ([]int, error) {
	out, err := b.operatorLog(ctx)
	if err != nil {
		return nil, err
	}
	counts := make([]int, len(ws))
	for _, line := range strings.Split(out, "\n") {
		var e struct {
			TS  string `json:"ts"`
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || !hintMessages[e.Msg] {
			continue
		}
		at, err := time.Parse(time.RFC3339, e.TS)
		if err != nil {
			continue
		}
		for i, w := range ws {
			if !at.Before(w.from.Add(-hintWindow).Truncate(time.Second)) && at.Before(w.to) {
				counts[i]++
			}
		}
	}
	return counts, nil
}

// operatorLog is the operator's whole log so far.
func (b *bench) operatorLog(ctx context.Context) (string, error) {
	out, err := b.env.Kubectl(ctx, "-n", operatorbed.OperatorNamespace, "logs", "pod/"+b.op.pod, "-c", operatorbed.OperatorContainer)
	if err != nil {
		return "", fmt.Errorf("cannot read the operator's log: %w", err)
	}
	return out, nil
}

// switchMsg is the operator's log message once the role labels followed a
// +switch-master (the controller's followSwitch), with where its time went.
const switchMsg = "role labels follow the sentinels' new primary"

// labelSteps is the operator's own account of a label move: when it heard
// the announcement, how long until it had ROLE's confirmation of the new
// primary and the announcing sentinel's configuration (asked together),
// how long it asked that sentinel again when that answer was missing, and
// how long the labels took to move (pods from the cache, the label lock,
// the patches).
type labelSteps struct {
	found                 bool
	heard                 time.Time
	confirm, ask, patches time.Duration
}

// readLabelSteps finds in the operator's log the first label move of
// RedisFailover rf heard at or after since.
func (b *bench) readLabelSteps(ctx context.Context, rf string, since time.Time) (labelSteps, error) {
	out, err := b.operatorLog(ctx)
	if err != nil {
		return labelSteps{}, err
	}
	return parseLabelSteps(out, namespace+"/"+rf, since), nil
}

// parseLabelSteps is readLabelSteps on the log's text.
func parseLabelSteps(logText, rf string, since time.Time) labelSteps {
	for _, line := range strings.Split(logText, "\n") {
		var e struct {
			Msg       string `json:"msg"`
			RF        string `json:"redisfailover"`
			HeardAt   string `json:"heardAt"`
			ConfirmMs int64  `json:"confirmMs"`
			AskMs     int64  `json:"askMs"`
			MoveMs    int64  `json:"moveMs"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Msg != switchMsg || e.RF != rf {
			continue
		}
		heard, err := time.Parse(time.RFC3339Nano, e.HeardAt)
		if err != nil || heard.Before(since) {
			continue
		}
		return labelSteps{found: true, heard: heard, confirm: time.Duration(e.ConfirmMs) * time.Millisecond,
			ask: time.Duration(e.AskMs) * time.Millisecond, patches: time.Duration(e.MoveMs) * time.Millisecond}
	}
	return labelSteps{}
}

// keepLogs writes the operator's log and the logs of every container of
// the killed RedisFailover's pods into dir, one file each: what the
// operator, the sentinels and the instance managers did around the kill.
func (b *bench) keepLogs(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	victim := b.names[len(b.names)-1]
	var errs []error
	if out, err := b.operatorLog(ctx); err != nil {
		errs = append(errs, err)
	} else if err := os.WriteFile(filepath.Join(dir, "operator.log"), []byte(out), 0o644); err != nil {
		errs = append(errs, err)
	}
	files := map[string][]string{}
	var pods corev1.PodList
	if err := b.env.Client.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{specs.LabelInstance: victim}); err != nil {
		return fmt.Errorf("cannot list the pods of %s: %w", victim, err)
	}
	for _, p := range pods.Items {
		files[p.Name+".log"] = []string{"-n", namespace, "logs", "pod/" + p.Name, "--all-containers", "--prefix"}
	}
	for name, args := range files {
		out, err := b.env.Kubectl(ctx, args...)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot read the log for %s: %w", name, err))
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(out), 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	b.log.Info("kept the logs", "dir", dir, "files", len(files)+1)
	return errors.Join(errs...)
}
