package engine

import (
	"errors"
	"strings"
	"testing"
)

func TestParseVersionOutput(t *testing.T) {
	cases := map[string]Server{
		"Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=c4ad7e1b0ef3f1b2":   {Redis, Version{7, 0, 15}},
		"Valkey server v=8.0.1 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=39f7c371e0a96e3d\n": {Valkey, Version{8, 0, 1}},
	}
	for out, want := range cases {
		got, err := ParseVersionOutput(out)
		if err != nil || got != want {
			t.Errorf("ParseVersionOutput(%q) = %v, %v; want %v", out, got, err, want)
		}
	}
	if _, err := ParseVersionOutput("KeyDB server v=6.3.4"); err == nil {
		t.Error("a KeyDB version was read as Redis or Valkey")
	}
}

func TestFromInfoPrefersValkeysOwnVersion(t *testing.T) {
	got, err := FromInfo(map[string]string{"redis_version": "7.2.4", "server_name": "valkey", "valkey_version": "8.0.1"})
	if err != nil || got != (Server{Valkey, Version{8, 0, 1}}) {
		t.Errorf("valkey INFO = %v, %v", got, err)
	}
	got, err = FromInfo(map[string]string{"redis_version": "7.0.15"})
	if err != nil || got != (Server{Redis, Version{7, 0, 15}}) {
		t.Errorf("redis INFO = %v, %v", got, err)
	}
	if _, err := FromInfo(map[string]string{}); err == nil {
		t.Error("an INFO without a version was accepted")
	}
}

func TestSupported(t *testing.T) {
	for s, ok := range map[Server]bool{
		{Redis, Version{6, 2, 14}}: false, {Redis, Version{7, 0, 0}}: true, {Redis, Version{8, 2, 1}}: true,
		{Valkey, Version{7, 0, 0}}: false, {Valkey, Version{7, 2, 5}}: true, {Valkey, Version{8, 0, 1}}: true, {}: false,
	} {
		err := s.Supported()
		if (err == nil) != ok {
			t.Errorf("%v supported: %v, want %v", s, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), SupportedRange) {
			t.Errorf("%v: the refusal %q does not name the supported range", s, err)
		}
	}
}

func TestCheckMove(t *testing.T) {
	redis70, redis72, redis74 := Server{Redis, Version{7, 0, 15}}, Server{Redis, Version{7, 2, 4}}, Server{Redis, Version{7, 4, 1}}
	valkey72, valkey80, valkey90 := Server{Valkey, Version{7, 2, 5}}, Server{Valkey, Version{8, 0, 1}}, Server{Valkey, Version{9, 0, 0}}
	cases := []struct {
		from, to Server
		refused  string
	}{
		{redis70, valkey80, ""},
		{redis72, valkey80, ""},
		{redis70, redis72, ""},
		{valkey72, valkey80, ""},
		{valkey80, valkey90, ""},
		{valkey80, redis72, ""},
		{Server{}, valkey80, ""},
		{redis70, Server{Redis, Version{7, 0, 11}}, ""},
		{redis74, valkey80, "cannot read the RDB format 12"},
		{valkey80, redis70, "cannot read the RDB format 11"},
		{redis72, redis70, "downgrade"},
		{valkey80, valkey72, "downgrade"},
		{valkey90, valkey80, "downgrade"},
		{valkey90, redis74, "cannot read the RDB format 80"},
		{redis70, Server{Redis, Version{6, 2, 0}}, "not supported"},
	}
	for _, c := range cases {
		err := CheckMove(c.from, c.to)
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("%v -> %v refused: %v", c.from, c.to, err)
		case c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused)):
			t.Errorf("%v -> %v = %v; want a refusal saying %q", c.from, c.to, err, c.refused)
		}
	}
}

func TestFromImage(t *testing.T) {
	cases := map[string]struct {
		want Server
		ok   bool
	}{
		"redis:7.0.15":                            {Server{Redis, Version{7, 0, 15}}, true},
		"docker.io/library/redis:7.2-alpine":      {Server{Redis, Version{7, 2, 0}}, true},
		"redis:6":                                 {Server{Redis, Version{6, 0, 0}}, true},
		"valkey/valkey:8.0":                       {Server{Valkey, Version{8, 0, 0}}, true},
		"valkey/valkey:8.0.1-bookworm@sha256:abc": {Server{Valkey, Version{8, 0, 1}}, true},
		"redis:latest":                            {ok: false},
		"redis":                                   {ok: false},
		"registry.example.com/redis:7.2":          {ok: false},
		"valkey/valkey:unstable":                  {ok: false},
	}
	for ref, c := range cases {
		got, ok := FromImage(ref)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("FromImage(%q) = %v, %v; want %v, %v", ref, got, ok, c.want, c.ok)
		}
	}
}

func TestInstalledPrefersValkey(t *testing.T) {
	have := func(names ...string) func(string) (string, error) {
		return func(n string) (string, error) {
			for _, h := range names {
				if h == n {
					return "/usr/bin/" + n, nil
				}
			}
			return "", errors.New("not found")
		}
	}
	if e, err := Installed(have("redis-server", "valkey-server")); err != nil || e != Valkey {
		t.Errorf("both installed: %v, %v", e, err)
	}
	if e, err := Installed(have("redis-server")); err != nil || e != Redis {
		t.Errorf("redis installed: %v, %v", e, err)
	}
	if _, err := Installed(have()); err == nil || !strings.Contains(err.Error(), "spec.redis.image") {
		t.Errorf("nothing installed: %v; want an error naming spec.redis.image", err)
	}
}
