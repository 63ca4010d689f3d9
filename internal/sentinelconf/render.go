package sentinelconf

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Params of one sentinel.conf.
type Params struct {
	Port int
	// AnnounceHostname is the sentinel's own stable DNS name; with
	// announce-hostnames the sentinels and replicas never keep pod IPs.
	AnnounceHostname string
	// MyID keeps the sentinel's identity across restarts (see MyID).
	MyID string
	// Password is required from clients and peers, and used towards the
	// instances and peers; empty when auth is off.
	Password        string
	MasterName      string
	PrimaryHost     string
	PrimaryPort     int
	Quorum          int
	DownAfter       time.Duration
	FailoverTimeout time.Duration
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
	line("port %d", p.Port)
	line("bind * -::*")
	line("protected-mode no")
	line("dir /tmp")
	// Host names must be resolved and announced before the monitor line so
	// that sentinels and replicas are known by stable names (safety rule 4).
	line("sentinel resolve-hostnames yes")
	line("sentinel announce-hostnames yes")
	line("sentinel announce-ip %s", p.AnnounceHostname)
	line("sentinel announce-port %d", p.Port)
	line("sentinel myid %s", p.MyID)
	if p.Password != "" {
		// Sentinels authenticate each other, so a sentinel of another
		// RedisFailover can never join this set (safety rule 3).
		line("requirepass %s", p.Password)
		line("sentinel sentinel-pass %s", p.Password)
	}
	line("sentinel monitor %s %s %d %d", p.MasterName, p.PrimaryHost, p.PrimaryPort, p.Quorum)
	if p.Password != "" {
		line("sentinel auth-pass %s %s", p.MasterName, p.Password)
	}
	line("sentinel down-after-milliseconds %s %d", p.MasterName, p.DownAfter.Milliseconds())
	line("sentinel failover-timeout %s %d", p.MasterName, p.FailoverTimeout.Milliseconds())
	line("sentinel parallel-syncs %s 1", p.MasterName)
	return b.String(), nil
}

func (p Params) validate() error {
	for name, v := range map[string]string{"announce hostname": p.AnnounceHostname, "master name": p.MasterName, "primary host": p.PrimaryHost, "password": p.Password} {
		if strings.ContainsAny(v, " \t\r\n\"'") {
			return fmt.Errorf("cannot render sentinel.conf: the %s contains a space, quote or line break", name)
		}
	}
	switch {
	case len(p.MyID) != 40:
		return fmt.Errorf("cannot render sentinel.conf: myid %q is not 40 hex digits", p.MyID)
	case p.MasterName == "" || p.PrimaryHost == "" || p.AnnounceHostname == "":
		return fmt.Errorf("cannot render sentinel.conf: master name, primary host and announce hostname must be set")
	case p.Quorum < 1 || p.Port < 1 || p.PrimaryPort < 1:
		return fmt.Errorf("cannot render sentinel.conf: quorum and ports must be positive")
	case p.DownAfter <= 0 || p.FailoverTimeout <= 0:
		return fmt.Errorf("cannot render sentinel.conf: down-after and failover-timeout must be positive")
	}
	return nil
}
