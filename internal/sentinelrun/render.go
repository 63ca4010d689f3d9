package sentinelrun

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/haredis/haredis/internal/certs"
)

// Params of one sentinel.conf.
type Params struct {
	Port int
	// TLSDir, when set, is the mounted certificate Secret: the sentinel then
	// speaks TLS only, on Port, to its clients, its peers and the instances.
	TLSDir string
	// AnnounceHostname is the sentinel's own stable DNS name; with
	// announce-hostnames the sentinels and replicas never keep pod IPs.
	AnnounceHostname string
	// MyID keeps the sentinel's identity across restarts (see MyID).
	MyID string
	// Password is required from clients and peers, and used towards the
	// instances and peers; empty when auth is off.
	Password string
	// PreviousPasswordHash, when set, is the SHA-256 of a second password
	// clients and peers may give: the one a rotation of the application
	// password replaces, accepted until the rotation ends.
	PreviousPasswordHash string
	// AuthUser and AuthPass, when set, are what the sentinel authenticates
	// to the instances with (the sentinel user); else Password alone.
	AuthUser, AuthPass string
	MasterName         string
	PrimaryHost        string
	PrimaryPort        int
	Quorum             int
	DownAfter          time.Duration
	FailoverTimeout    time.Duration
	// KnownReplicas and KnownSentinels are written as known-replica and
	// known-sentinel lines, so that the sentinel can fail over before it
	// ever heard from the primary (see KnownReplicas, KnownSentinels).
	KnownReplicas  []Addr
	KnownSentinels []Peer
	// CurrentEpoch, LeaderEpoch and ConfigEpoch carry a restarted
	// sentinel's voting memory over (see Previous.Carry); 0 writes nothing.
	CurrentEpoch, LeaderEpoch, ConfigEpoch uint64
}

// MyID derives a stable 40-hex-digit sentinel run id from the master name and
// the pod name: a restarted sentinel keeps its identity, so its peers do not
// count it twice, and two RedisFailovers never share one.
func MyID(masterName, podName string) string {
	h := sha1.Sum([]byte(masterName + "/" + podName))
	return hex.EncodeToString(h[:])
}

// Render returns sentinel.conf. The password never appears in a log: only
// in this file, which the caller writes with mode 0600.
func Render(p Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# Rendered by haredis sentinel run at every start; edits are lost.")
	if p.TLSDir != "" {
		files := certs.NewFiles(p.TLSDir)
		// TLS only: no plaintext port. Clients are not asked for a
		// certificate (the password authenticates them); tls-replication
		// makes Sentinel dial the instances and its peers over TLS too.
		line("port 0")
		line("tls-port %d", p.Port)
		line("tls-cert-file %s", files.Path(certs.CertKey))
		line("tls-key-file %s", files.Path(certs.KeyKey))
		line("tls-ca-cert-file %s", files.Path(certs.CAKey))
		line("tls-auth-clients no")
		line("tls-replication yes")
	} else {
		line("port %d", p.Port)
	}
	identity(line, p.AnnounceHostname, p.Port, p.MyID)
	if p.Password != "" {
		// Sentinels authenticate each other, so a sentinel of another
		// RedisFailover can never join this set (safety rule 3).
		if p.PreviousPasswordHash != "" {
			// requirepass, as a user: with the previous password too,
			// which peers that have not switched yet still give.
			line("user default on >%s #%s ~* &* +@all", p.Password, p.PreviousPasswordHash)
		} else {
			line("requirepass %s", p.Password)
		}
		line("sentinel sentinel-pass %s", p.Password)
	}
	masterLines(line, p)
	// After the monitor line: leader-epoch and config-epoch belong to the
	// master it creates.
	if p.CurrentEpoch > 0 {
		line("sentinel current-epoch %d", p.CurrentEpoch)
	}
	if p.LeaderEpoch > 0 {
		line("sentinel leader-epoch %s %d", p.MasterName, p.LeaderEpoch)
	}
	if p.ConfigEpoch > 0 {
		line("sentinel config-epoch %s %d", p.MasterName, p.ConfigEpoch)
	}
	return b.String(), nil
}

// masterLines writes the section of one master: what it monitors, how it
// authenticates to the instances, its timings and the replicas and peers
// it knows from its first second.
func masterLines(line func(string, ...any), p Params) {
	line("sentinel monitor %s %s %d %d", p.MasterName, p.PrimaryHost, p.PrimaryPort, p.Quorum)
	switch {
	case p.AuthUser != "":
		line("sentinel auth-user %s %s", p.MasterName, p.AuthUser)
		line("sentinel auth-pass %s %s", p.MasterName, p.AuthPass)
	case p.Password != "":
		line("sentinel auth-pass %s %s", p.MasterName, p.Password)
	}
	line("sentinel down-after-milliseconds %s %d", p.MasterName, p.DownAfter.Milliseconds())
	line("sentinel failover-timeout %s %d", p.MasterName, p.FailoverTimeout.Milliseconds())
	line("sentinel parallel-syncs %s 1", p.MasterName)
	for _, r := range p.KnownReplicas {
		line("sentinel known-replica %s %s %d", p.MasterName, r.Host, r.Port)
	}
	for _, s := range p.KnownSentinels {
		line("sentinel known-sentinel %s %s %d %s", p.MasterName, s.Host, s.Port, s.RunID)
	}
}

func (p Params) validate() error {
	if err := p.validateMaster(); err != nil {
		return err
	}
	for _, s := range p.KnownSentinels {
		if s.RunID == p.MyID {
			return fmt.Errorf("cannot render sentinel.conf: known sentinel %s has this sentinel's own run id", s.Addr)
		}
	}
	switch {
	case !isRunID(p.MyID):
		return fmt.Errorf("cannot render sentinel.conf: myid %q is not 40 hex digits", p.MyID)
	case p.AnnounceHostname == "":
		return fmt.Errorf("cannot render sentinel.conf: the announce hostname must be set")
	case p.Port < 1:
		return fmt.Errorf("cannot render sentinel.conf: the port must be positive")
	}
	return nil
}

// validateMaster checks what masterLines writes.
func (p Params) validateMaster() error {
	for name, v := range map[string]string{"announce hostname": p.AnnounceHostname, "master name": p.MasterName, "primary host": p.PrimaryHost, "password": p.Password, "previous password hash": p.PreviousPasswordHash, "auth user": p.AuthUser, "auth password": p.AuthPass, "TLS directory": p.TLSDir} {
		if strings.ContainsAny(v, " \t\r\n\"'") {
			return fmt.Errorf("cannot render sentinel.conf: the %s contains a space, quote or line break", name)
		}
	}
	for _, a := range p.KnownReplicas {
		if err := validAddr("known replica", a); err != nil {
			return err
		}
	}
	for _, s := range p.KnownSentinels {
		if err := validAddr("known sentinel", s.Addr); err != nil {
			return err
		}
		if !isRunID(s.RunID) {
			return fmt.Errorf("cannot render sentinel.conf: known sentinel %s has run id %q, not 40 hex digits", s.Addr, s.RunID)
		}
	}
	switch {
	case p.MasterName == "" || p.PrimaryHost == "":
		return fmt.Errorf("cannot render sentinel.conf: master name and primary host must be set")
	case p.Quorum < 1 || p.PrimaryPort < 1:
		return fmt.Errorf("cannot render sentinel.conf: quorum and ports must be positive")
	case p.DownAfter <= 0 || p.FailoverTimeout <= 0:
		return fmt.Errorf("cannot render sentinel.conf: down-after and failover-timeout must be positive")
	}
	return nil
}

func validAddr(what string, a Addr) error {
	if a.Host == "" || strings.ContainsAny(a.Host, " \t\r\n\"'") || a.Port < 1 || a.Port > 65535 {
		return fmt.Errorf("cannot render sentinel.conf: %s %q is not a host name and port", what, a.String())
	}
	return nil
}

// isRunID tells whether s has the form of a Sentinel run id.
func isRunID(s string) bool {
	if len(s) != 40 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// identity writes the settings every sentinel haredis runs shares after
// its port: listening everywhere, and its stable name and id. Host names
// must be resolved and announced before any monitor line so that
// sentinels and replicas are known by stable names (safety rule 4).
func identity(line func(string, ...any), announceHostname string, port int, myID string) {
	line("bind * -::*")
	line("protected-mode no")
	line("dir /tmp")
	line("sentinel resolve-hostnames yes")
	line("sentinel announce-hostnames yes")
	line("sentinel announce-ip %s", announceHostname)
	line("sentinel announce-port %d", port)
	line("sentinel myid %s", myID)
}
