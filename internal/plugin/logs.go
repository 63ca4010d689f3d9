package plugin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/haredis/haredis/internal/specs"
)

// LogsOptions are the choices of `logs`.
type LogsOptions struct {
	// Follow streams new lines, and the logs of pods and container runs
	// that start meanwhile, until ctx ends.
	Follow bool
	// Tail is how many lines of each container to print first; < 0 all.
	Tail int64
	// Since only prints lines younger than that (0: all).
	Since time.Duration
	// Previous prints the previous run of each container instead.
	Previous bool
	// Timestamps prefixes each line with its time as the node wrote it.
	Timestamps bool
	// Poll is how often Follow looks for new pods and container runs
	// (default 2 s).
	Poll time.Duration
}

// Pods returns every pod haredis runs for RedisFailover ns/name (instances,
// sentinels, proxies), sorted by name.
func Pods(ctx context.Context, c client.Reader, ns, name string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{specs.LabelInstance: name, specs.LabelManagedBy: specs.ManagedBy}); err != nil {
		return nil, explain(err, "list", "pods", ns, "the pods of "+name)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items, nil
}

// logStream is one run of one container.
type logStream struct {
	pod, container string
	// uid tells a re-created pod of the same name apart.
	uid      string
	restarts int32
}

func (s logStream) prefix() string { return "[" + s.pod + "/" + s.container + "] " }

// streamsOf lists the container runs of pods that have logs.
func streamsOf(pods []corev1.Pod) []logStream {
	var out []logStream
	for _, p := range pods {
		for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if cs.State.Waiting != nil && cs.LastTerminationState.Terminated == nil && cs.RestartCount == 0 {
				continue // never started: no logs
			}
			out = append(out, logStream{pod: p.Name, container: cs.Name, uid: string(p.UID), restarts: cs.RestartCount})
		}
	}
	return out
}

// Logs prints the logs of every container of RedisFailover ns/name, each
// line prefixed with [POD/CONTAINER]. Without Follow the containers come one
// after the other, in order; with it lines interleave as they come (whole
// lines), and pods and container runs that start meanwhile join.
func Logs(ctx context.Context, c client.Reader, cs kubernetes.Interface, ns, name string, out io.Writer, o LogsOptions) error {
	if _, err := GetRF(ctx, c, ns, name); err != nil {
		return err
	}
	pods, err := Pods(ctx, c, ns, name)
	if err != nil {
		return err
	}
	w := &lineWriter{w: out}
	if !o.Follow {
		if len(pods) == 0 {
			return fmt.Errorf("RedisFailover %s has no pods (yet)", name)
		}
		for _, s := range streamsOf(pods) {
			if err := copyLog(ctx, cs, ns, s, o, w); err != nil {
				w.line(s.prefix(), "(cannot read: "+err.Error()+")")
			}
		}
		return nil
	}
	poll := o.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	started := map[logStream]bool{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for first := true; ; first = false {
		for _, s := range streamsOf(pods) {
			if started[s] {
				continue
			}
			started[s] = true
			so := o
			if !first {
				// A run that started meanwhile: all of it, from its start.
				so.Tail, so.Since = -1, 0
			}
			wg.Go(func() {
				if err := copyLog(ctx, cs, ns, s, so, w); err != nil && ctx.Err() == nil {
					w.line(s.prefix(), "(cannot read: "+err.Error()+")")
				}
			})
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
		if pods, err = Pods(ctx, c, ns, name); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

// copyLog copies one container run's log to w, prefixed.
func copyLog(ctx context.Context, cs kubernetes.Interface, ns string, s logStream, o LogsOptions, w *lineWriter) error {
	opts := &corev1.PodLogOptions{Container: s.container, Follow: o.Follow, Previous: o.Previous, Timestamps: o.Timestamps}
	if o.Tail >= 0 {
		opts.TailLines = &o.Tail
	}
	if o.Since > 0 {
		secs := int64(o.Since.Seconds())
		opts.SinceSeconds = &secs
	}
	rc, err := cs.CoreV1().Pods(ns).GetLogs(s.pod, opts).Stream(ctx)
	if err != nil {
		return explain(err, "get", "pods/log", ns, "the logs of "+s.pod+"/"+s.container)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		w.line(s.prefix(), sc.Text())
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// lineWriter writes whole lines from several goroutines.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) line(prefix, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, prefix+text+"\n")
}
