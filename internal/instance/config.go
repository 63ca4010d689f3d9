package instance

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/haredis/haredis/internal/secretfile"

	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/instanceconfig"
)

// config returns instance.json as last read.
func (m *Manager) config() *instanceconfig.Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

// reloadConfig reads instance.json again: the operator adds a new instance
// to it before the instance's pod exists, and the kubelet updates a mounted
// ConfigMap in place. A file that cannot be read or is for another
// RedisFailover or no longer lists this instance is ignored (the last good
// one stays): the member list only grows the set of peers a decision asks.
func (m *Manager) reloadConfig() {
	if m.opts.ConfigPath == "" {
		return
	}
	cfg, err := instanceconfig.Load(m.opts.ConfigPath)
	if err != nil {
		m.log.Warn("cannot read instance.json again; keeping the last one", "err", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.cfg
	if cfg.MasterName != old.MasterName || !cfg.HasInstance(m.opts.Self) {
		return
	}
	if strings.Join(cfg.Instances, ",") != strings.Join(old.Instances, ",") {
		m.log.Info("instance list changed", "from", old.Instances, "to", cfg.Instances)
	}
	m.cfg = cfg
}

// token is the manager credential, read at each use so that a rotated
// Secret counts as soon as the kubelet updates the file.
func (m *Manager) token() string {
	if m.opts.TokenFile == "" {
		return ""
	}
	t, err := secretfile.Read(m.opts.TokenFile)
	if err != nil {
		return "" // no token: every request but the probes is refused
	}
	return t
}

// labelRole reads the pod's haredis.dev/role label from the downward API
// file, "" when there is none.
func (m *Manager) labelRole() string {
	if m.opts.PodInfoDir == "" {
		return ""
	}
	f, err := os.Open(filepath.Join(m.opts.PodInfoDir, "labels"))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || k != "haredis.dev/role" {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			return u
		}
		return strings.Trim(v, `"`)
	}
	return ""
}

// Force records a human's choice of primary for instanceapi.ForceTTL.
func (m *Manager) Force(primary string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.forced != primary {
		m.log.Warn("a human chose the primary", "primary", primary)
	}
	m.forced, m.forcedUntil = primary, time.Now().Add(instanceapi.ForceTTL)
}

// forcedPrimary is the human's choice while it holds.
func (m *Manager) forcedPrimary() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Now().After(m.forcedUntil) {
		m.forced = ""
	}
	return m.forced
}
