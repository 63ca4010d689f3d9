package instance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/redisconf"
)

// With TLS (instance.json's tls) redis-server speaks TLS only on its port
// and replicates over TLS; the manager reaches the other instances and the
// sentinels with TLS, verifying their chain against the mounted ca.crt, and
// its own redis-server through a Unix socket in the run dir, which needs no
// certificate. A renewed certificate is loaded into the running server
// without a restart.

// socketName is redis-server's Unix socket in the run dir, rendered only
// with TLS.
const socketName = "redis.sock"

// maxSocketPath is the longest path of a Unix socket on every platform
// Redis runs on (sun_path holds 104 bytes on some, 108 on Linux).
const maxSocketPath = 103

// defaultCertCheckInterval is how often the mounted certificate is compared
// with the one the running server loaded.
const defaultCertCheckInterval = 5 * time.Second

// socketPath is where redis-server's Unix socket is.
func (m *Manager) socketPath() string { return filepath.Join(m.opts.RunDir, socketName) }

// localAddr is how the manager reaches its own redis-server: the Unix
// socket with TLS, else the loopback port.
func (m *Manager) localAddr() (network, addr string) {
	if m.tls {
		return "unix", m.socketPath()
	}
	return "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(m.opts.RedisPort))
}

// peerTLS is the TLS configuration of every connection to another instance
// or to a sentinel; nil without TLS.
func (m *Manager) peerTLS() *tls.Config {
	if !m.tls {
		return nil
	}
	return m.clientTLS
}

// renderTLS makes redis.conf speak TLS only, when the instance does, with
// the socket the manager's own connections use. plainReplication is for a
// replica of a Redis outside the RedisFailover (a live import's source),
// which speaks no TLS.
func (m *Manager) renderTLS(in *redisconf.Input, plainReplication bool) {
	if !m.tls {
		return
	}
	in.UnixSocket = m.socketPath()
	in.TLS = &redisconf.TLS{CertFile: m.certs.Path(certs.CertKey), KeyFile: m.certs.Path(certs.KeyKey),
		CAFile: m.certs.Path(certs.CAKey), PlainReplication: plainReplication}
}

// loadedCerts records the fingerprint of the certificate files as a server
// starts with them ("" without TLS, or when they cannot be read: the next
// check then loads them).
func (m *Manager) loadedCerts() string {
	if !m.tls {
		return ""
	}
	fp, err := m.certs.Fingerprint()
	if err != nil {
		m.log.Warn("cannot read the TLS certificate redis-server starts with", "err", err)
		return ""
	}
	return fp
}

// certLoop loads a renewed certificate into the running redis-server: every
// CertCheckInterval it compares the mounted files with those the server
// loaded, until ctx is cancelled.
func (m *Manager) certLoop(ctx context.Context) {
	if !m.tls {
		return
	}
	tick := time.NewTicker(m.opts.CertCheckInterval)
	defer tick.Stop()
	refused := "" // a fingerprint Redis refused: tried again once the files change
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		refused = m.checkCerts(ctx, refused)
	}
}

// checkCerts reloads the certificate when the files changed since the
// running server loaded them, and returns the fingerprint Redis refused
// ("" when none).
func (m *Manager) checkCerts(ctx context.Context, refused string) string {
	m.mu.Lock()
	running := m.proc != nil && !m.proc.Exited()
	loaded := m.run.certs
	m.mu.Unlock()
	if !running {
		return refused
	}
	fp, err := m.certs.Fingerprint()
	if err != nil {
		m.log.Warn("cannot read the mounted TLS certificate; the server keeps the one it has", "err", err)
		return refused
	}
	if fp == loaded || fp == refused {
		return refused
	}
	if err := m.reloadCerts(ctx); err != nil {
		var refusal redis.Error
		if !errors.As(err, &refusal) {
			// Not Redis's answer (the server restarts, a timeout): the
			// next check tries again.
			m.log.Warn("cannot load the renewed TLS certificate into redis-server yet", "err", err)
			return refused
		}
		m.log.Error("redis-server refused the renewed TLS certificate; it keeps the previous one", "err", err)
		return fp
	}
	m.mu.Lock()
	m.run.certs = fp
	m.mu.Unlock()
	m.log.Info("redis-server loaded the renewed TLS certificate", certAttrs(m.certs)...)
	return ""
}

// reloadCerts makes redis-server read the certificate files again: Redis
// loads them anew at every CONFIG SET of a TLS parameter, and keeps the
// previous ones when they do not load.
func (m *Manager) reloadCerts(ctx context.Context) error {
	c, err := m.redisClient.client()
	if err != nil {
		return fmt.Errorf("cannot reload the TLS certificate: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = c.Do(ctx, "CONFIG", "SET",
		"tls-cert-file", m.certs.Path(certs.CertKey),
		"tls-key-file", m.certs.Path(certs.KeyKey),
		"tls-ca-cert-file", m.certs.Path(certs.CAKey)).Err()
	if err != nil {
		return fmt.Errorf("cannot reload the TLS certificate with CONFIG SET: %w", err)
	}
	return nil
}

// certAttrs describe the mounted certificate in a log line: its serial
// number and expiry, never the key.
func certAttrs(f *certs.Files) []any {
	c, err := f.Certificate()
	if err != nil || len(c.Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil
	}
	return []any{"serial", leaf.SerialNumber.String(), "notAfter", leaf.NotAfter.UTC().Format(time.RFC3339)}
}

// replicateOverTLS, after a live import's cutover, makes the new primary
// reach a later primary with TLS: it replicated from the source without.
func (m *Manager) replicateOverTLS(ctx context.Context) {
	if !m.tls {
		return
	}
	c, err := m.redisClient.client()
	if err == nil {
		err = c.ConfigSet(ctx, "tls-replication", "yes").Err()
	}
	if err != nil {
		// The next start of redis-server renders it.
		m.log.Warn("cannot turn TLS replication on after the cutover", "err", err)
	}
}
