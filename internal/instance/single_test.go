package instance

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/redistest"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/metrics"
)

func TestRestartsKilledRedisServer(t *testing.T) {
	c := newTestCluster(t, []string{"app-1"}, nil, nil)
	tm := c.start("app-1")
	s := waitRole(t, tm.m, "primary", 20*time.Second)
	if s.LastDecision == nil || s.LastDecision.Reason == "" {
		t.Fatalf("status has no boot decision: %+v", s)
	}
	info, err := os.Stat(filepath.Join(tm.m.opts.RunDir, "redis.conf"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("redis.conf holds the password: want mode 0600, got %v (%v)", info.Mode().Perm(), err)
	}
	rc := c.client("app-1")
	ctx := context.Background()
	if err := rc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Make the write durable in the AOF base file before killing.
	if err := rc.BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 10*time.Second, "AOF rewrite done", func(ctx context.Context) error {
		info, err := rc.Info(ctx, "persistence").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "aof_rewrite_in_progress:0") || !strings.Contains(info, "aof_rewrite_scheduled:0") {
			return fmt.Errorf("rewrite running")
		}
		return nil
	})

	oldPID := s.RedisPID
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 20*time.Second, "redis-server restarted", func(context.Context) error {
		s = getStatus(t, tm.m)
		if s.RedisPID == 0 || s.RedisPID == oldPID || s.Role != "primary" || !s.Ready {
			return fmt.Errorf("pid %d role %s ready %v phase %s", s.RedisPID, s.Role, s.Ready, s.Phase)
		}
		return nil
	})
	if s.Restarts != 1 {
		t.Errorf("restarts = %d, want 1", s.Restarts)
	}
	if got, err := rc.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("after the restart GET k = %q, %v; want v (data kept on the volume)", got, err)
	}
	if code := httpJSON(t, http.MethodGet, tm.m, "/readyz", nil, nil); code != http.StatusOK {
		t.Errorf("GET /readyz: %d, want 200", code)
	}
	if code := httpJSON(t, http.MethodGet, tm.m, "/healthz", nil, nil); code != http.StatusOK {
		t.Errorf("GET /healthz: %d, want 200", code)
	}
	fams, err := metrics.Parse(strings.NewReader(getText(t, tm.m, "/metrics")))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(instanceMetricTypes, fams.Types()); diff != "" {
		t.Errorf("metrics and their types (-want +got):\n%s", diff)
	}
	for _, r := range []string{instanceapi.RolePrimary, instanceapi.RoleReplica, instanceapi.RoleUnknown} {
		if got, err := fams.Value("haredis_instance_role", "role", r, "redisfailover", "app"); err != nil || got != metrics.Bool(r == instanceapi.RolePrimary) {
			t.Errorf("haredis_instance_role{role=%q} = %v, %v; want 1 for primary only", r, got, err)
		}
	}
	for name, want := range map[string]float64{"haredis_instance_redis_up": 1, "haredis_instance_ready": 1, "haredis_instance_waiting": 0,
		"haredis_instance_redis_restarts_total": 1, "haredis_instance_keys": 1, "haredis_instance_connected_replicas": 0,
		"haredis_instance_config_error": 0, "haredis_instance_config_restart_required": 0,
		"haredis_instance_boot_wait_seconds": 0, "haredis_instance_replication_lag_seconds": -1,
		"haredis_instance_rdb_last_bgsave_ok": 1, "haredis_instance_aof_last_write_ok": 1} {
		if got, err := fams.Value(name, "redisfailover", "app"); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", name, got, err, want)
		}
	}
	if v, err := fams.Value("haredis_instance_memory_used_bytes", "redisfailover", "app"); err != nil || v < 100<<10 {
		t.Errorf("haredis_instance_memory_used_bytes = %v, %v; want the server's memory", v, err)
	}
	if v, err := fams.Value("haredis_instance_connected_clients", "redisfailover", "app"); err != nil || v < 1 {
		t.Errorf("haredis_instance_connected_clients = %v, %v; want at least the manager's own", v, err)
	}
	if s.LastDecision.Facts.Own.HasData != true {
		t.Errorf("the second boot decision did not see the data on the volume: %+v", s.LastDecision.Facts.Own)
	}
}

func TestLiveConfig(t *testing.T) {
	c := newTestCluster(t, []string{"app-1"}, nil, map[string]string{"maxmemory-policy": "allkeys-lru"})
	tm := c.start("app-1")
	s := waitRole(t, tm.m, "primary", 20*time.Second)
	pid := s.RedisPID
	rc := c.client("app-1")
	ctx := context.Background()
	configGet := func(name string) string {
		t.Helper()
		v, err := rc.ConfigGet(ctx, name).Result()
		if err != nil {
			t.Fatal(err)
		}
		return v[name]
	}
	if got := configGet("maxmemory-policy"); got != "allkeys-lru" {
		t.Fatalf("maxmemory-policy = %q at boot, want allkeys-lru", got)
	}

	// A parameter Redis changes at run time: applied live, no restart.
	var res instanceapi.ApplyResult
	code := httpJSON(t, http.MethodPut, tm.m, "/config", instanceapi.PutConfigRequest{Generation: 2,
		Config: map[string]string{"maxmemory-policy": "allkeys-lru", "notify-keyspace-events": "gxE"}}, &res)
	if code != http.StatusOK {
		t.Fatalf("PUT /config: %d %+v", code, res)
	}
	if diff := cmp.Diff(map[string]string{"notify-keyspace-events": "gxE"}, res.Applied); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
	if got := configGet("notify-keyspace-events"); got != "gxE" {
		t.Errorf("notify-keyspace-events = %q, want gxE", got)
	}

	// A value Redis refuses: Redis's own message, nothing changes.
	var refused instanceapi.ErrorBody
	code = httpJSON(t, http.MethodPut, tm.m, "/config", instanceapi.PutConfigRequest{Generation: 3,
		Config: map[string]string{"maxmemory-policy": "bogus", "notify-keyspace-events": "KEA"}}, &refused)
	if code != http.StatusUnprocessableEntity {
		t.Errorf("PUT bogus: status %d, want 422", code)
	}
	if !strings.Contains(refused.RedisError, "argument(s) must be one of the following") {
		t.Errorf("PUT bogus: redisError %q is not Redis's message", refused.RedisError)
	}
	if got := configGet("maxmemory-policy"); got != "allkeys-lru" {
		t.Errorf("maxmemory-policy = %q after a refused change, want allkeys-lru", got)
	}
	if got := configGet("notify-keyspace-events"); got != "gxE" {
		t.Errorf("notify-keyspace-events = %q after a refused change, want gxE", got)
	}
	s = getStatus(t, tm.m)
	if s.Config.Generation != 2 || s.Config.InForce["notify-keyspace-events"] != "gxE" || !strings.Contains(s.Config.LastError, "maxmemory-policy") {
		t.Errorf("status config after a refused change: %+v", s.Config)
	}

	// An older generation is refused.
	if code := httpJSON(t, http.MethodPut, tm.m, "/config", instanceapi.PutConfigRequest{Generation: 1, Config: map[string]string{}}, nil); code != http.StatusConflict {
		t.Errorf("PUT with an older generation: status %d, want 409", code)
	}
	// A parameter haredis owns is refused before Redis sees it.
	if code := httpJSON(t, http.MethodPut, tm.m, "/config", instanceapi.PutConfigRequest{Generation: 4, Config: map[string]string{"dir": "/etc"}}, nil); code != http.StatusBadRequest {
		t.Errorf("PUT with an owned parameter: status %d, want 400", code)
	}

	// A parameter that needs a restart is reported, not applied; removed
	// parameters go back to their default.
	code = httpJSON(t, http.MethodPut, tm.m, "/config", instanceapi.PutConfigRequest{Generation: 5,
		Config: map[string]string{"databases": "32"}}, &res)
	if code != http.StatusOK {
		t.Fatalf("PUT databases: %d", code)
	}
	if diff := cmp.Diff([]string{"databases"}, res.RestartRequired); diff != "" {
		t.Errorf("restartRequired (-want +got):\n%s", diff)
	}
	if got := configGet("maxmemory-policy"); got != "noeviction" {
		t.Errorf("maxmemory-policy = %q after removing it, want the default noeviction", got)
	}
	if got := configGet("databases"); got != "16" {
		t.Errorf("databases = %q before a restart, want 16", got)
	}
	if s := getStatus(t, tm.m); s.RedisPID != pid || s.Restarts != 0 {
		t.Errorf("live changes restarted redis-server: pid %d -> %d, restarts %d", pid, s.RedisPID, s.Restarts)
	}

	// Durability changes live with the group, and for later starts.
	code = httpJSON(t, http.MethodPut, tm.m, "/config", instanceapi.PutConfigRequest{Generation: 6,
		Config: map[string]string{"databases": "32"}, Durability: &instanceapi.Durability{MinReplicasToWrite: 2, MaxLagSeconds: 7}}, &res)
	if code != http.StatusOK {
		t.Fatalf("PUT durability: %d", code)
	}
	if got := configGet("min-replicas-to-write") + "/" + configGet("min-replicas-max-lag"); got != "2/7" {
		t.Errorf("min-replicas-to-write/max-lag = %s, want 2/7", got)
	}
	if s := getStatus(t, tm.m); s.Durability != (instanceapi.Durability{MinReplicasToWrite: 2, MaxLagSeconds: 7}) || s.Ready {
		t.Errorf("status durability %+v ready %v, want 2/7 and not ready (no replicas)", s.Durability, s.Ready)
	}
	if code := httpJSON(t, http.MethodPut, tm.m, "/config", instanceapi.PutConfigRequest{Generation: 7,
		Config: map[string]string{"databases": "32"}, Durability: &instanceapi.Durability{MinReplicasToWrite: -1}}, nil); code != http.StatusBadRequest {
		t.Errorf("PUT a negative durability: status %d, want 400", code)
	}

	// The next start of redis-server renders the persisted group.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 20*time.Second, "restarted with databases 32", func(ctx context.Context) error {
		v, err := rc.ConfigGet(ctx, "databases").Result()
		if err != nil {
			return err
		}
		if v["databases"] != "32" {
			return fmt.Errorf("databases = %q", v["databases"])
		}
		return nil
	})
	if s := getStatus(t, tm.m); len(s.Config.RestartRequired) != 0 || s.Config.InForce["databases"] != "32" {
		t.Errorf("status config after the restart: %+v", s.Config)
	}
	if got := configGet("min-replicas-to-write"); got != "2" {
		t.Errorf("min-replicas-to-write = %q after the restart, want the live value 2", got)
	}
}

// TestInitialGroupInForceAtFirstBoot: the group of instance.json is checked
// with the image's server and in force from the first start.
func TestInitialGroupInForceAtFirstBoot(t *testing.T) {
	c := newTestCluster(t, []string{"app-1"}, nil, map[string]string{"notify-keyspace-events": "gxE"})
	tm := c.start("app-1")
	waitRole(t, tm.m, "primary", 20*time.Second)
	if s := getStatus(t, tm.m); s.Config.LastError != "" || s.Config.InForce["notify-keyspace-events"] != "gxE" {
		t.Errorf("group in force %v, error %q; want notify-keyspace-events gxE", s.Config.InForce, s.Config.LastError)
	}
	got, err := c.client("app-1").ConfigGet(context.Background(), "notify-keyspace-events").Result()
	if err != nil || got["notify-keyspace-events"] != "gxE" {
		t.Errorf("the server runs notify-keyspace-events %q (%v), want gxE", got["notify-keyspace-events"], err)
	}
}

func TestInvalidInitialGroupStillBoots(t *testing.T) {
	c := newTestCluster(t, []string{"app-1"}, nil, map[string]string{"maxmemory-policy": "bogus", "notify-keyspace-events": "gxE"})
	tm := c.start("app-1")
	waitRole(t, tm.m, "primary", 20*time.Second)
	s := getStatus(t, tm.m)
	if !strings.Contains(s.Config.LastError, "argument(s) must be one of the following") {
		t.Errorf("status does not report Redis's refusal: %q", s.Config.LastError)
	}
	if len(s.Config.InForce) != 0 {
		t.Errorf("booted with %v, want no parameter group (none worked before)", s.Config.InForce)
	}
	var g instanceapi.GroupState
	httpJSON(t, http.MethodGet, tm.m, "/config", nil, &g)
	if g.Desired["maxmemory-policy"] != "bogus" {
		t.Errorf("GET /config desired = %v, want the refused group", g.Desired)
	}
}

// instanceMetricTypes are the metrics of GET /metrics and their types.
var instanceMetricTypes = map[string]dto.MetricType{
	"haredis_instance_role":                            dto.MetricType_GAUGE,
	"haredis_instance_redis_up":                        dto.MetricType_GAUGE,
	"haredis_instance_ready":                           dto.MetricType_GAUGE,
	"haredis_instance_waiting":                         dto.MetricType_GAUGE,
	"haredis_instance_replication_offset_bytes":        dto.MetricType_GAUGE,
	"haredis_instance_replication_lag_bytes":           dto.MetricType_GAUGE,
	"haredis_instance_connected_replicas":              dto.MetricType_GAUGE,
	"haredis_instance_keys":                            dto.MetricType_GAUGE,
	"haredis_instance_redis_restarts_total":            dto.MetricType_COUNTER,
	"haredis_instance_config_error":                    dto.MetricType_GAUGE,
	"haredis_instance_config_restart_required":         dto.MetricType_GAUGE,
	"haredis_instance_boot_wait_seconds":               dto.MetricType_GAUGE,
	"haredis_instance_replication_lag_seconds":         dto.MetricType_GAUGE,
	"haredis_instance_connected_clients":               dto.MetricType_GAUGE,
	"haredis_instance_memory_used_bytes":               dto.MetricType_GAUGE,
	"haredis_instance_memory_rss_bytes":                dto.MetricType_GAUGE,
	"haredis_instance_memory_fragmentation_ratio":      dto.MetricType_GAUGE,
	"haredis_instance_evicted_keys_total":              dto.MetricType_COUNTER,
	"haredis_instance_expired_keys_total":              dto.MetricType_COUNTER,
	"haredis_instance_keyspace_hits_total":             dto.MetricType_COUNTER,
	"haredis_instance_keyspace_misses_total":           dto.MetricType_COUNTER,
	"haredis_instance_rdb_last_save_timestamp_seconds": dto.MetricType_GAUGE,
	"haredis_instance_rdb_last_bgsave_ok":              dto.MetricType_GAUGE,
	"haredis_instance_aof_last_write_ok":               dto.MetricType_GAUGE,
}
