package instanceconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/haredis/haredis/internal/acl"
)

// Persistence modes, the same strings as api/v1 PersistenceMode.
const (
	PersistenceAOF  = "AOF"
	PersistenceRDB  = "RDB"
	PersistenceNone = "None"
)

// NamePlaceholder is replaced by an instance name in HostTemplate.
const NamePlaceholder = "{name}"

// Config is instance.json. One file serves every instance of a RedisFailover:
// the instance finds itself by its pod name (POD_NAME).
type Config struct {
	// ClusterName is the RedisFailover's name.
	ClusterName string `json:"clusterName"`
	// MasterName is the name the sentinels monitor this RedisFailover by,
	// unique in the Kubernetes cluster.
	MasterName string `json:"masterName"`
	// Instances lists every instance name (NAME-1, NAME-2, ...), this one
	// included.
	Instances []string `json:"instances"`
	// HostTemplate gives the stable host name of an instance: {name} is
	// replaced by the instance name, for example
	// "{name}.app-headless.ns.svc.cluster.local". Its port is the Redis port.
	HostTemplate string `json:"hostTemplate,omitempty"`
	// Hosts gives host:port per instance name explicitly; it wins over
	// HostTemplate (tests on loopback use it, each instance on its own port).
	Hosts map[string]string `json:"hosts,omitempty"`
	// ManagerPort is the port of every instance manager's HTTP API on the
	// instance's host (8080 when 0); Managers gives host:port per instance
	// explicitly and wins (tests on loopback).
	ManagerPort int               `json:"managerPort,omitempty"`
	Managers    map[string]string `json:"managers,omitempty"`
	// Sentinels lists host:port of every sentinel that monitors MasterName.
	Sentinels []string `json:"sentinels,omitempty"`
	// SentinelPods optionally names the pod of each entry of Sentinels, in
	// the same order ("" for one not known): a sentinel's run id is derived
	// from its pod name. When empty the pod name is the first label of the
	// sentinel's host name (NAME-sentinel-N.NAME-sentinel-headless...),
	// which is what clusters use; tests on loopback, whose sentinels are IP
	// addresses, set it.
	SentinelPods []string `json:"sentinelPods,omitempty"`
	// SentinelAuthEnabled says the sentinels require the same password as
	// the instances.
	SentinelAuthEnabled bool `json:"sentinelAuthEnabled,omitempty"`
	// SentinelsJoining says the Sentinels take over a RedisFailover that
	// another set of sentinels (a SentinelPool's) watches now: they start
	// with a quorum above their count, which lets them watch but never
	// fail it over, until the operator removes it from the other set and
	// lowers their quorum to a majority.
	SentinelsJoining bool `json:"sentinelsJoining,omitempty"`
	// TLS says the instances and the sentinels speak TLS only, on their
	// usual ports, with the certificate Secret every pod mounts
	// (certs.MountDir): clients, replicas and sentinels verify each other's
	// chain against its ca.crt.
	TLS bool `json:"tls,omitempty"`
	// Persistence is AOF, RDB or None.
	Persistence string `json:"persistence"`
	// Config is the parameter group: Redis parameters by name.
	Config map[string]string `json:"config,omitempty"`
	// ConfigGeneration orders parameter groups: the instance keeps the group
	// of the highest generation it has seen, from this file or from
	// PUT /config, so that a stale ConfigMap never undoes a live change.
	ConfigGeneration int64 `json:"configGeneration,omitempty"`
	// MinReplicasToWrite and MinReplicasMaxLagSeconds come from
	// spec.durability, already defaulted by the operator.
	MinReplicasToWrite       int `json:"minReplicasToWrite"`
	MinReplicasMaxLagSeconds int `json:"minReplicasMaxLagSeconds"`
	// AuthEnabled says clients, replicas and sentinels need the password.
	AuthEnabled bool `json:"authEnabled"`
	// ACLUsers (with AuthEnabled) gives the password to the application
	// user alone, with ApplicationRules as its permissions, and the
	// internal users (acl package) their own passwords, mounted next to the
	// password file: the manager and the operator, replicas and sentinels
	// each authenticate as their own user.
	ACLUsers         bool   `json:"aclUsers,omitempty"`
	ApplicationRules string `json:"applicationRules,omitempty"`
	// InitialPrimary is the primary the operator recorded when it created
	// the instances; it counts only while the sentinels know nothing.
	InitialPrimary string `json:"initialPrimary"`
	// Bootstrap, while set, seeds a new RedisFailover: its instance loads
	// an RDB file into its empty volume before its first start.
	Bootstrap *Bootstrap `json:"bootstrap,omitempty"`
}

// Bootstrap names the instance that loads the seed file and what the file
// must be; the operator hands the file's URL over through the manager's
// API (PUT /seed), as it may carry a signature.
type Bootstrap struct {
	// Instance loads the file: the initial primary.
	Instance string `json:"instance"`
	// Source says where the file comes from, for the status and the logs.
	Source string `json:"source"`
	// SHA256 (hex) the file must have; empty when unknown.
	SHA256 string `json:"sha256,omitempty"`
	// FromRedis, instead of a file, is a running Redis that Instance
	// replicates from until the cutover (a live import).
	FromRedis *LiveSource `json:"fromRedis,omitempty"`
}

// LiveSource is the Redis a live import replicates from. It takes the
// RedisFailover's password (or none when auth is off), like the instances.
type LiveSource struct {
	// Addr is host:port.
	Addr string `json:"addr"`
}

var instanceName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// Load reads and validates instance.json.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read instance config: %w", err)
	}
	return Parse(b)
}

// Parse decodes and validates instance.json; unknown fields are refused so
// that a typo by the operator is not silently ignored.
func Parse(b []byte) (*Config, error) {
	var c Config
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("cannot parse instance config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks what the instance manager relies on.
func (c *Config) Validate() error {
	var errs []error
	if c.MasterName == "" {
		errs = append(errs, errors.New("masterName: must be set"))
	}
	if len(c.Instances) == 0 {
		errs = append(errs, errors.New("instances: must list at least one instance"))
	}
	seen := map[string]bool{}
	for _, n := range c.Instances {
		if !instanceName.MatchString(n) {
			errs = append(errs, fmt.Errorf("instances: %q is not a valid instance name", n))
		}
		if seen[n] {
			errs = append(errs, fmt.Errorf("instances: %q is listed twice", n))
		}
		seen[n] = true
		if _, ok := c.Hosts[n]; !ok && !strings.Contains(c.HostTemplate, NamePlaceholder) {
			errs = append(errs, fmt.Errorf("instances: %q has no entry in hosts and hostTemplate has no %s", n, NamePlaceholder))
		}
	}
	for n, hp := range c.Hosts {
		if _, _, err := splitHostPort(hp); err != nil {
			errs = append(errs, fmt.Errorf("hosts[%s]: %w", n, err))
		}
	}
	if c.ACLUsers && !c.AuthEnabled {
		errs = append(errs, errors.New("aclUsers: needs authEnabled"))
	}
	if c.ACLUsers {
		if _, err := acl.ApplicationRules(c.ApplicationRules); err != nil {
			errs = append(errs, fmt.Errorf("applicationRules: %w", err))
		}
	}
	for n, hp := range c.Managers {
		if _, _, err := splitHostPort(hp); err != nil {
			errs = append(errs, fmt.Errorf("managers[%s]: %w", n, err))
		}
	}
	if c.ManagerPort < 0 || c.ManagerPort > 65535 {
		errs = append(errs, fmt.Errorf("managerPort: %d is not a port", c.ManagerPort))
	}
	for _, s := range c.Sentinels {
		if _, _, err := splitHostPort(s); err != nil {
			errs = append(errs, fmt.Errorf("sentinels: %w", err))
		}
	}
	if len(c.SentinelPods) > 0 && len(c.SentinelPods) != len(c.Sentinels) {
		errs = append(errs, fmt.Errorf("sentinelPods: %d names for %d sentinels", len(c.SentinelPods), len(c.Sentinels)))
	}
	if b := c.Bootstrap; b != nil && !seen[b.Instance] {
		errs = append(errs, fmt.Errorf("bootstrap.instance: %q is not one of the instances", b.Instance))
	}
	if b := c.Bootstrap; b != nil && b.FromRedis != nil {
		if _, _, err := splitHostPort(b.FromRedis.Addr); err != nil {
			errs = append(errs, fmt.Errorf("bootstrap.fromRedis.addr: %w", err))
		}
	}
	if c.InitialPrimary != "" && !seen[c.InitialPrimary] {
		errs = append(errs, fmt.Errorf("initialPrimary: %q is not one of the instances", c.InitialPrimary))
	}
	switch c.Persistence {
	case PersistenceAOF, PersistenceRDB, PersistenceNone:
	default:
		errs = append(errs, fmt.Errorf("persistence: %q must be AOF, RDB or None", c.Persistence))
	}
	if c.MinReplicasToWrite < 0 || c.MinReplicasMaxLagSeconds < 0 {
		errs = append(errs, errors.New("minReplicasToWrite, minReplicasMaxLagSeconds: must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid instance config: %w", errors.Join(errs...))
	}
	return nil
}

// HasInstance reports whether name is one of the instances.
func (c *Config) HasInstance(name string) bool {
	for _, n := range c.Instances {
		if n == name {
			return true
		}
	}
	return false
}

// Address returns host and port of an instance; defaultPort is used with
// HostTemplate.
func (c *Config) Address(name string, defaultPort int) (string, int) {
	if hp, ok := c.Hosts[name]; ok {
		h, p, err := splitHostPort(hp)
		if err == nil {
			return h, p
		}
	}
	return strings.ReplaceAll(c.HostTemplate, NamePlaceholder, name), defaultPort
}

// DefaultManagerPort is the instance manager's HTTP port in a pod.
const DefaultManagerPort = 8080

// ManagerAddress is host:port of an instance's manager API.
func (c *Config) ManagerAddress(name string) string {
	if hp, ok := c.Managers[name]; ok {
		return hp
	}
	h, _ := c.Address(name, 0)
	port := c.ManagerPort
	if port == 0 {
		port = DefaultManagerPort
	}
	return net.JoinHostPort(h, strconv.Itoa(port))
}

// Serial returns N of an instance named CLUSTER-N, 0 for any other name.
// Serials are never reused, so an instance with a higher serial than every
// listed one is newer than the list, and one with a lower serial that is
// not listed was removed.
func (c *Config) Serial(name string) int {
	rest, ok := strings.CutPrefix(name, c.ClusterName+"-")
	if !ok || c.ClusterName == "" {
		return 0
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || strconv.Itoa(n) != rest {
		return 0
	}
	return n
}

// MaxSerial is the highest serial of the listed instances.
func (c *Config) MaxSerial() int {
	m := 0
	for _, n := range c.Instances {
		m = max(m, c.Serial(n))
	}
	return m
}

// NameAt returns the instance whose address is host:port, also when it is
// not listed (yet): a host name built from HostTemplate with a name of this
// cluster (CLUSTER-N) counts. "" when host:port is none of this cluster's.
func (c *Config) NameAt(host string, port, defaultPort int) string {
	if n := c.InstanceAt(host, port, defaultPort); n != "" {
		return n
	}
	for n, hp := range c.Hosts {
		if h, p, err := splitHostPort(hp); err == nil && p == port && strings.EqualFold(h, strings.TrimSuffix(host, ".")) {
			return n
		}
	}
	before, after, ok := strings.Cut(c.HostTemplate, NamePlaceholder)
	if !ok || port != defaultPort {
		return ""
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	before, after = strings.ToLower(before), strings.TrimSuffix(strings.ToLower(after), ".")
	if !strings.HasPrefix(h, before) || !strings.HasSuffix(h, after) || len(h) <= len(before)+len(after) {
		return ""
	}
	name := h[len(before) : len(h)-len(after)]
	if c.Serial(name) == 0 {
		return ""
	}
	return name
}

// InstanceAt returns the instance whose address is host:port, comparing host
// names without regard to case and a trailing dot; "" when none is.
func (c *Config) InstanceAt(host string, port, defaultPort int) string {
	norm := func(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }
	for _, n := range c.Instances {
		h, p := c.Address(n, defaultPort)
		if p == port && norm(h) == norm(host) {
			return n
		}
	}
	return ""
}

func splitHostPort(hp string) (string, int, error) {
	h, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port: %w", hp, err)
	}
	p, err := strconv.Atoi(ps)
	if err != nil || p < 1 || p > 65535 || h == "" {
		return "", 0, fmt.Errorf("%q is not host:port with a port from 1 to 65535", hp)
	}
	return h, p, nil
}
