package sentinelrun

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/sentinel"
)

const testMyID = "0123456789abcdef0123456789abcdef01234567"

func TestRenderPoolCarriesMastersOver(t *testing.T) {
	previous := strings.Join([]string{
		"port 1234",
		"user default on nopass ~* &* +@all",
		"sentinel myid ffffffffffffffffffffffffffffffffffffffff",
		"sentinel sentinel-pass old",
		"sentinel monitor ns.a.1.pool a-1.a-headless.ns.svc.cluster.local 6379 2",
		"sentinel auth-user ns.a.1.pool haredis-sentinel",
		"sentinel auth-pass ns.a.1.pool secret",
		"sentinel config-epoch ns.a.1.pool 3",
		"sentinel leader-epoch ns.a.1.pool 3",
		"sentinel known-replica ns.a.1.pool a-2.a-headless.ns.svc.cluster.local 6379",
		"sentinel current-epoch 3",
	}, "\n")
	conf, err := RenderPool(PoolParams{Port: 26379, AnnounceHostname: "p-sentinel-1.p-sentinel-headless.ns.svc.cluster.local", MyID: testMyID, Password: "pw", Previous: previous})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"port 26379\n", "sentinel myid " + testMyID + "\n", "user default on nopass " + sentinel.PoolReaderRules + "\n",
		"user haredis-admin on >pw ~* &* +@all\n", "sentinel sentinel-pass pw\n",
		"sentinel monitor ns.a.1.pool a-1.a-headless.ns.svc.cluster.local 6379 2\n", "sentinel auth-pass ns.a.1.pool secret\n",
		"sentinel leader-epoch ns.a.1.pool 3\n", "sentinel known-replica ns.a.1.pool", "sentinel current-epoch 3\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("sentinel.conf lacks %q:\n%s", want, conf)
		}
	}
	for _, gone := range []string{"port 1234", "ffffffffff", "sentinel-pass old", "+@all\nsentinel myid ffff"} {
		if strings.Contains(conf, gone) {
			t.Errorf("sentinel.conf keeps %q of the previous file:\n%s", gone, conf)
		}
	}
	if _, err := RenderPool(PoolParams{Port: 26379, AnnounceHostname: "h", MyID: testMyID, Password: "a b"}); err == nil {
		t.Error("a password with a space was rendered")
	}
}

// TestPoolSentinelReadsForAllWritesForAdmin starts a pool sentinel on a
// rendered file: anyone reads the address of a master (with any password
// or none), only the admin user registers, changes or removes one, and a
// restart keeps what it monitors.
func TestPoolSentinelReadsForAllWritesForAdmin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := redistest.StartServer(redistest.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := newSentinelDir(t, port)
	render := func() string {
		conf, err := RenderPool(PoolParams{Port: port, AnnounceHostname: "127.0.0.1", MyID: testMyID, Password: "adminpw", Previous: s.previous()})
		if err != nil {
			t.Fatal(err)
		}
		return conf
	}
	s.start(ctx, render(), "")
	admin := sentinel.Access{User: sentinel.PoolAdminUser, Password: "adminpw"}
	host, p := "127.0.0.1", srv.Port()
	m := sentinel.Monitored{MasterName: "ns.app.1.pool", Host: host, Port: p, Quorum: 1, DownAfter: time.Second, FailoverTimeout: 10 * time.Second}
	if err := sentinel.Monitor(ctx, s.addr(), sentinel.Access{}, m); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("the default user registered a master: %v", err)
	}
	if err := sentinel.Monitor(ctx, s.addr(), admin, m); err != nil {
		t.Fatalf("the admin user cannot register a master: %v", err)
	}
	for _, pw := range []string{"", "anything"} {
		c := redis.NewSentinelClient(&redis.Options{Addr: s.addr(), Password: pw, MaxRetries: -1})
		addr, err := c.GetMasterAddrByName(ctx, m.MasterName).Result()
		if err != nil || len(addr) != 2 {
			t.Errorf("a reader with password %q: %v %v", pw, addr, err)
		}
		if err := c.Remove(ctx, m.MasterName).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("a reader with password %q removed the master: %v", pw, err)
		}
		if _, err := c.Masters(ctx).Result(); err == nil {
			t.Errorf("a reader with password %q listed every master", pw)
		}
		c.Close()
	}
	ok, problem, err := sentinel.CKQuorum(ctx, s.addr(), admin, m.MasterName)
	if err != nil || !ok {
		t.Errorf("CKQUORUM of a one-sentinel quorum: %v %q %v", ok, problem, err)
	}
	s.kill()
	s.start(ctx, render(), "")
	names, err := sentinel.MasterNames(ctx, s.addr(), admin)
	if err != nil || len(names) != 1 || names[0] != m.MasterName {
		t.Fatalf("after a restart the sentinel monitors %v (%v), want the master it had", names, err)
	}
	if err := sentinel.Remove(ctx, s.addr(), admin, m.MasterName); err != nil {
		t.Fatal(err)
	}
	if names, err := sentinel.MasterNames(ctx, s.addr(), admin); err != nil || len(names) != 0 {
		t.Errorf("after SENTINEL REMOVE: %v %v", names, err)
	}
	if err := sentinel.Remove(ctx, s.addr(), admin, m.MasterName); err != nil {
		t.Errorf("removing a master the sentinel does not know: %v", err)
	}
}
