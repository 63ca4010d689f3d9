package sentinelrun

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/supervise"
)

// superviseTLS runs redis-sentinel on the sentinel.conf at path as a child
// and serves a renewed certificate: Sentinel reads its certificate only at
// start and has no CONFIG SET for it, so when the mounted files change the
// runner stops redis-sentinel gracefully and starts it again on the file
// Sentinel rewrote. That file holds all its state (epochs, votes, the
// current primary, the replicas and peers it knows, passwords set at run
// time), so the restart keeps exactly what a restart of the process keeps,
// and the other sentinels keep their majority while it lasts.
//
// The kubelet swaps every file of the Secret at once, so one renewal is one
// restart; a certificate and a key that do not belong together (a set
// caught while it is being replaced file by file) are waited out.
//
// It returns nil once ctx ends and redis-sentinel stopped, and an error
// when redis-sentinel exits by itself, so that the kubelet restarts the
// container and the sentinel starts again from its peers' view, as
// without TLS.
//
// Each sentinel waits delay after it sees a renewal (restartDelay: the
// pods' kubelets may refresh the files at the same moment, and three
// sentinels restarting together would leave none for that moment), and
// while it takes part in a failover (busy), at most maxFailoverHold more:
// a restart would abort its part.
func superviseTLS(ctx context.Context, o Options, bin, path string, files *certs.Files, delay time.Duration, busy func(context.Context) bool) error {
	interval := o.CertCheckInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	stopTimeout := o.StopTimeout
	if stopTimeout <= 0 {
		stopTimeout = 10 * time.Second
	}
	out := o.Output
	if out == nil {
		out = os.Stdout
	}
	// The runner is PID 1 of the sentinel container: it collects every
	// orphan too.
	reaper := supervise.NewReaper(os.Getpid() == 1, o.Log)
	start := func() (*supervise.Process, error) {
		cmd := exec.Command(bin, path, "--sentinel")
		cmd.Stdout, cmd.Stderr = out, out
		proc, err := reaper.Start(cmd)
		if err != nil {
			return nil, fmt.Errorf("cannot start the sentinel: %w", err)
		}
		return proc, nil
	}
	// Read before the start: a renewal in between costs one restart too
	// many, never a missed one.
	check := renewalCheck{files: files, log: o.Log}
	var err error
	if check.served, err = files.Fingerprint(); err != nil {
		return fmt.Errorf("cannot start the sentinel with TLS: %w", err)
	}
	o.Log.Info("starting the sentinel with TLS", "binary", bin, "config", path, "tlsDir", files.Dir)
	proc, err := start()
	if err != nil {
		return err
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var seen time.Time // when the renewal now waiting was first seen
	for {
		select {
		case <-ctx.Done():
			stopSentinel(o.Log, proc, stopTimeout)
			return nil
		case <-proc.Done():
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("the sentinel (%s) exited: %s", bin, proc.ExitString())
		case <-tick.C:
		}
		renewed, leaf, ok := check.renewed()
		if !ok {
			seen = time.Time{}
			continue
		}
		if seen.IsZero() {
			seen = time.Now()
		}
		if waited := time.Since(seen); waited < delay || (waited < delay+maxFailoverHold && busy != nil && busy(ctx)) {
			continue
		}
		seen = time.Time{}
		attrs := []any{"pid", proc.Pid}
		if leaf != nil {
			attrs = append(attrs, "serial", leaf.SerialNumber.Text(16), "notAfter", leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		o.Log.Info("the TLS certificate was renewed; restarting the sentinel to serve it", attrs...)
		stopSentinel(o.Log, proc, stopTimeout)
		if ctx.Err() != nil {
			return nil
		}
		if proc, err = start(); err != nil {
			return err
		}
		check.served = renewed
		o.Log.Info("the sentinel restarted with the renewed TLS certificate", "pid", proc.Pid)
	}
}

// maxFailoverHold bounds how long a renewal waits for a failover the
// sentinel takes part in: twice the longest failover-timeout haredis sets
// by default, so a stuck flag cannot keep an expiring certificate.
const maxFailoverHold = time.Minute

// restartDelay staggers the sentinels' restarts for a renewal by their
// ordinal (NAME-sentinel-N): 10 s apart, the first at once.
func restartDelay(pod string) time.Duration {
	i := strings.LastIndexByte(pod, '-')
	n, err := strconv.Atoi(pod[i+1:])
	if i < 0 || err != nil || n < 1 {
		return 0
	}
	return time.Duration(n-1) * 10 * time.Second
}

// stopSentinel stops redis-sentinel as the kubelet stops a container:
// SIGTERM, then SIGKILL after timeout.
func stopSentinel(log *slog.Logger, proc *supervise.Process, timeout time.Duration) {
	_ = proc.Signal(syscall.SIGTERM)
	select {
	case <-proc.Done():
		log.Info("the sentinel stopped", "pid", proc.Pid, "how", proc.ExitString())
	case <-time.After(timeout):
		log.Warn("the sentinel did not stop in time; killing it", "pid", proc.Pid, "timeout", timeout.String())
		_ = proc.SignalGroup(syscall.SIGKILL)
		<-proc.Done()
	}
}

// renewalCheck tells when the mounted certificate files hold a renewal
// redis-sentinel can load.
type renewalCheck struct {
	files *certs.Files
	log   *slog.Logger
	// served is the fingerprint of the files redis-sentinel runs with;
	// reported the last unusable set logged, so that a broken Secret is
	// logged once, not at every check.
	served, reported string
}

// renewed returns the fingerprint and the certificate of files that
// changed since served, once the certificate and the key belong together
// and the CA loads, and the files did not change while being checked.
func (c *renewalCheck) renewed() (fingerprint string, leaf *x509.Certificate, ok bool) {
	fp, err := c.files.Fingerprint()
	if err != nil {
		c.report("?", "cannot read the TLS files; keeping the sentinel on its certificate", err)
		return "", nil, false
	}
	if fp == c.served {
		return "", nil, false
	}
	pair, err := tls.LoadX509KeyPair(c.files.Path(certs.CertKey), c.files.Path(certs.KeyKey))
	if err != nil {
		c.report(fp, "the renewed TLS certificate and key do not load together; keeping the sentinel on its certificate", err)
		return "", nil, false
	}
	if _, err := c.files.Pool(); err != nil {
		c.report(fp, "the renewed TLS CA does not load; keeping the sentinel on its certificate", err)
		return "", nil, false
	}
	if again, err := c.files.Fingerprint(); err != nil || again != fp {
		return "", nil, false // changing right now: the next check sees the whole set
	}
	return fp, pair.Leaf, true
}

func (c *renewalCheck) report(fp, msg string, err error) {
	if fp == c.reported {
		return
	}
	c.reported = fp
	c.log.Warn(msg, "tlsDir", c.files.Dir, "error", err.Error())
}
