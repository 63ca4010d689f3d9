package redisinfo

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const primaryInfo = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nmin_slaves_good_slaves:2\r\n" +
	"slave0:ip=app-2.h,port=6379,state=online,offset=1234,lag=0\r\n" +
	"slave1:ip=10.0.0.3,port=6380,state=wait_bgsave,offset=0,lag=1\r\n" +
	"master_failover_state:no-failover\r\nmaster_replid:8f2a\r\nmaster_replid2:0000000000000000000000000000000000000000\r\n" +
	"master_repl_offset:1234\r\nsecond_repl_offset:-1\r\n\r\n# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\ndb5:keys=4,expires=1,avg_ttl=9\r\n" +
	"# Persistence\r\nloading:0\r\n"

const replicaInfo = "# Replication\r\nrole:slave\r\nmaster_host:app-1.h\r\nmaster_port:6379\r\n" +
	"master_link_status:down\r\nmaster_last_io_seconds_ago:-1\r\nmaster_sync_in_progress:1\r\n" +
	"slave_repl_offset:99\r\nslave_priority:0\r\nconnected_slaves:0\r\nmaster_replid:abcd\r\nmaster_replid2:ef01\r\nmaster_repl_offset:99\r\nsecond_repl_offset:51\r\n" +
	"# Persistence\r\nloading:1\r\n"

func TestReplication(t *testing.T) {
	cases := map[string]struct {
		text string
		want Replication
		keys int64
		load bool
	}{
		"primary": {
			text: primaryInfo,
			want: Replication{Role: "master", Offset: 1234, ReplID: "8f2a",
				ReplID2: "0000000000000000000000000000000000000000", SecondOffset: -1, Priority: -1,
				ConnectedReplicas: 2, GoodReplicas: 2, MasterLastIOSecondsAgo: -1,
				Replicas: []ReplicaLink{
					{IP: "app-2.h", Port: 6379, State: "online", Offset: 1234},
					{IP: "10.0.0.3", Port: 6380, State: "wait_bgsave", Lag: 1},
				}},
			keys: 7,
		},
		"replica syncing": {
			text: replicaInfo,
			want: Replication{Role: "slave", Offset: 99, ReplID: "abcd", ReplID2: "ef01", SecondOffset: 51,
				MasterHost: "app-1.h", MasterPort: 6379, Priority: 0,
				SyncInProgress: true, MasterLastIOSecondsAgo: -1, GoodReplicas: -1},
			load: true,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			info := ParseInfo(c.text)
			got, err := info.Replication()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if info.Keys() != c.keys {
				t.Errorf("Keys() = %d, want %d", info.Keys(), c.keys)
			}
			if info.Loading() != c.load {
				t.Errorf("Loading() = %v, want %v", info.Loading(), c.load)
			}
		})
	}
}

func TestReplicationRefusesUnknownRole(t *testing.T) {
	if _, err := ParseInfo("role:sentinel\r\n").Replication(); err == nil {
		t.Error("no error for a sentinel's INFO")
	}
	if _, err := ParseInfo("").Replication(); err == nil {
		t.Error("no error for an empty INFO")
	}
}

func TestParseRole(t *testing.T) {
	cases := map[string]struct {
		reply   interface{}
		want    Role
		wantErr bool
	}{
		"master": {
			reply: []interface{}{"master", int64(3129659), []interface{}{[]interface{}{"127.0.0.1", "9001", "3129242"}}},
			want:  Role{Role: "master", Offset: 3129659},
		},
		"replica": {
			reply: []interface{}{"slave", "app-1.h", int64(6379), "connected", int64(3167038)},
			want:  Role{Role: "slave", MasterHost: "app-1.h", MasterPort: 6379, State: "connected", Offset: 3167038},
		},
		"sentinel":      {reply: []interface{}{"sentinel", []interface{}{"m"}}, want: Role{Role: "sentinel"}},
		"short replica": {reply: []interface{}{"slave", "h"}, wantErr: true},
		"not an array":  {reply: "OK", wantErr: true},
		"empty":         {reply: []interface{}{}, wantErr: true},
		"unknown role":  {reply: []interface{}{"leader"}, wantErr: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseRole(c.reply)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if c.wantErr {
				return
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseInfo(f *testing.F) {
	f.Add(primaryInfo)
	f.Add(replicaInfo)
	f.Fuzz(func(t *testing.T, text string) {
		info := ParseInfo(text)
		_, _ = info.Replication()
		_ = info.Keys()
	})
}
