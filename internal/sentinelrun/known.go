package sentinelrun

import (
	"net"
	"strconv"
	"strings"

	"github.com/haredis/haredis/internal/instanceconfig"
)

// Addr is a host and port.
type Addr struct {
	Host string
	Port int
}

func (a Addr) String() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// Peer is another sentinel and its run id.
type Peer struct {
	Addr
	RunID string
}

// KnownReplicas are the announced addresses of every instance of the
// RedisFailover except the monitored primary. Written into sentinel.conf,
// they let a sentinel fail over even when it never saw the primary answer:
// after every pod restarted at once, the primary it monitors may never come
// back, and Sentinel otherwise learns replicas only from the primary's INFO.
func KnownReplicas(cfg *instanceconfig.Config, primary Addr) []Addr {
	var out []Addr
	for _, n := range cfg.Instances {
		host, port := cfg.Address(n, defaultRedisPort)
		if port == primary.Port && sameHost(host, primary.Host) {
			continue
		}
		out = append(out, Addr{Host: host, Port: port})
	}
	return out
}

// KnownSentinels are the other sentinels of the RedisFailover with the run
// id each one has (MyID of its pod name), so that a new sentinel counts
// every voter from its first second instead of waiting for their hello
// messages. self is this sentinel's announced address, podName its pod. A
// sentinel whose pod name cannot be told is left out (peers are found by
// their hello messages anyway): a wrong run id would be a voter that never
// answers.
func KnownSentinels(cfg *instanceconfig.Config, self Addr, podName string) []Peer {
	var out []Peer
	for i, s := range cfg.Sentinels {
		host, portStr, err := net.SplitHostPort(s)
		if err != nil {
			continue
		}
		port, _ := strconv.Atoi(portStr)
		if port == self.Port && sameHost(host, self.Host) {
			continue
		}
		pod := sentinelPod(cfg, i, host)
		if pod == "" || pod == podName {
			continue
		}
		out = append(out, Peer{Addr: Addr{Host: host, Port: port}, RunID: MyID(cfg.MasterName, pod)})
	}
	return out
}

// sentinelPod is the pod name of sentinel i: from SentinelPods when given,
// else the first label of its host name when that is a dedicated sentinel's
// (CLUSTER-sentinel-N); "" when it cannot be told (an IP address).
func sentinelPod(cfg *instanceconfig.Config, i int, host string) string {
	if len(cfg.SentinelPods) == len(cfg.Sentinels) {
		return cfg.SentinelPods[i]
	}
	if net.ParseIP(host) != nil {
		return ""
	}
	label, _, _ := strings.Cut(host, ".")
	if !strings.HasPrefix(label, cfg.ClusterName+"-sentinel-") {
		return ""
	}
	return label
}

// defaultRedisPort is the port of instances named by HostTemplate.
const defaultRedisPort = 6379
