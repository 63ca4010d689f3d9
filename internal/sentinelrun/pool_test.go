package sentinelrun

import (
	"context"
	"fmt"
	"strconv"
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

func TestRenderPoolTeachesMastersItLacks(t *testing.T) {
	self := "p-sentinel-1.p-sentinel-headless.ns.svc.cluster.local"
	taught := func(name string) string {
		s, err := RenderTaught(Taught{
			Master:         sentinel.Monitored{MasterName: name, Host: "a-1.h", Port: 6379, Quorum: 4, AuthUser: "haredis-sentinel", AuthPass: "pw", DownAfter: time.Second, FailoverTimeout: 10 * time.Second},
			KnownReplicas:  []Addr{{Host: "a-2.h", Port: 6379}},
			KnownSentinels: []Peer{{Addr: Addr{Host: self, Port: 26379}, RunID: testMyID}, {Addr: Addr{Host: "p-sentinel-2.h", Port: 26379}, RunID: strings.Repeat("b", 40)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	previous := "sentinel monitor ns.old.1.pool o-1.h 6379 2\nsentinel known-replica ns.old.1.pool o-9.h 6379\n"
	conf, err := RenderPool(PoolParams{Port: 26379, AnnounceHostname: self, MyID: testMyID, Password: "pw", Previous: previous,
		Taught: []string{taught("ns.new.1.pool"), taught("ns.old.1.pool"), "sentinel monitor ns.bad.1.pool x 1 2\nport 1234\n"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"sentinel monitor ns.new.1.pool a-1.h 6379 4\n", "sentinel auth-user ns.new.1.pool haredis-sentinel\n",
		"sentinel known-replica ns.new.1.pool a-2.h 6379\n", "sentinel known-sentinel ns.new.1.pool p-sentinel-2.h 26379 " + strings.Repeat("b", 40) + "\n",
		"sentinel known-replica ns.old.1.pool o-9.h 6379\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("sentinel.conf lacks %q:\n%s", want, conf)
		}
	}
	for _, gone := range []string{
		"known-sentinel ns.new.1.pool " + self, // not its own peer
		"ns.old.1.pool a-1.h",                  // the previous file's master wins
		"ns.bad.1.pool", "port 1234",           // not a section of one master
	} {
		if strings.Contains(conf, gone) {
			t.Errorf("sentinel.conf has %q:\n%s", gone, conf)
		}
	}
	for _, bad := range []string{"", "port 1\n", "sentinel auth-pass a x\n", "sentinel monitor a h 1 2\nsentinel known-replica b h 1\n", "sentinel monitor a h 1 2\nsentinel monitor a h 2 2\n"} {
		if _, _, err := ParseTaught(bad); err == nil {
			t.Errorf("ParseTaught(%q) took it", bad)
		}
	}
}

// TestTaughtPoolSentinelFailsOver starts a pool sentinel with a taught
// master whose primary never ran, as after every instance restarted at
// once: it knows the replica from its first second, holds the taught
// quorum (no failover), and fails over to the replica once the quorum is
// lowered.
func TestTaughtPoolSentinelFailsOver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	gone, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	replica, err := redistest.StartServer(redistest.ServerConfig{ReplicaOf: "127.0.0.1:" + strconv.Itoa(gone)})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	m := sentinel.Monitored{MasterName: "ns.app.1.pool", Host: "127.0.0.1", Port: gone, Quorum: 2, DownAfter: time.Second, FailoverTimeout: 10 * time.Second}
	section, err := RenderTaught(Taught{Master: m, KnownReplicas: []Addr{{Host: "127.0.0.1", Port: replica.Port()}},
		KnownSentinels: []Peer{{Addr: Addr{Host: "127.0.0.1", Port: port}, RunID: testMyID}}})
	if err != nil {
		t.Fatal(err)
	}
	s := newSentinelDir(t, port)
	conf, err := RenderPool(PoolParams{Port: port, AnnounceHostname: "127.0.0.1", MyID: testMyID, Password: "adminpw", Taught: []string{section}})
	if err != nil {
		t.Fatal(err)
	}
	s.start(ctx, conf, "")
	admin := sentinel.Access{User: sentinel.PoolAdminUser, Password: "adminpw"}
	a := sentinel.AskMaster(ctx, []string{s.addr()}, admin, m.MasterName)[0]
	if !a.Answered() || a.Unknown || a.Replicas != 1 || a.Peers != 0 || a.Quorum != 2 {
		t.Fatalf("the taught sentinel answers %+v, want the master with 1 replica, no peer and quorum 2", a)
	}
	if err := sentinel.SetQuorum(ctx, s.addr(), admin, m.MasterName, 1); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: replica.Addr(), MaxRetries: -1})
	defer c.Close()
	err = redistest.Wait(ctx, 100*time.Millisecond, func() error {
		role, err := c.Do(ctx, "ROLE").Slice()
		if err != nil {
			return err
		}
		if role[0] != "master" {
			return fmt.Errorf("role %v", role[0])
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the sentinel did not promote the taught replica: %v\n%s", err, s.log())
	}
}
