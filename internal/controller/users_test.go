package controller

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/redistest"
)

// An instance an earlier haredis started knows only the password (Redis's
// default user with every right): the operator signs in with it and sets
// the internal users up, then signs in as the admin user on the next
// round; a server it cannot reach is reported as not answering.
func TestInternalUsersSetUpOnAnInstanceWithoutThem(t *testing.T) {
	srv, err := redistest.StartServer(redistest.ServerConfig{Password: "app-pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	internal := acl.Passwords{Admin: "a-pw", Replication: "r-pw", Sentinel: "s-pw"}
	for round := range 2 {
		if err := setUpInternalUsers(ctx, srv.Addr(), "app-pw", internal); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	for _, u := range acl.InternalUsers(internal) {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr(), Username: u.Name, Password: u.Password, Protocol: 2, DisableIdentity: true})
		err := c.Ping(ctx).Err()
		c.Close()
		if err != nil {
			t.Errorf("AUTH as %s: %v", u.Name, err)
		}
	}
	// The password keeps every right on such an instance until it runs
	// haredis's redis.conf.
	app := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: "app-pw", Protocol: 2, DisableIdentity: true})
	defer app.Close()
	if err := app.ConfigGet(ctx, "maxmemory").Err(); err != nil {
		t.Errorf("the password lost a right: %v", err)
	}
	if err := setUpInternalUsers(ctx, srv.Addr(), "wrong", acl.Passwords{Admin: "wrong", Replication: "r", Sentinel: "s"}); err == nil || errors.Is(err, errNotAnswering) {
		t.Errorf("wrong credentials: %v, want a refusal", err)
	}
	if err := setUpInternalUsers(ctx, "127.0.0.1:1", "app-pw", internal); !errors.Is(err, errNotAnswering) {
		t.Errorf("no server: %v, want errNotAnswering", err)
	}
}
