// Package engine knows the servers haredis runs: Redis and Valkey, their
// versions, which of them haredis supports, the RDB format each writes and
// reads, and so which moves between them keep the data. Standard library
// only: the operator, the instance manager, the sentinel role and the
// plugin share it.
package engine

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Name is a server engine.
type Name string

const (
	Redis  Name = "redis"
	Valkey Name = "valkey"
)

// Version is a server version.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less orders versions.
func (v Version) Less(o Version) bool {
	if v.Major != o.Major {
		return v.Major < o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor < o.Minor
	}
	return v.Patch < o.Patch
}

// Server is an engine at a version.
type Server struct {
	Engine  Name
	Version Version
}

func (s Server) String() string {
	if s.Engine == "" {
		return "an unknown server"
	}
	return string(s.Engine) + " " + s.Version.String()
}

// Known tells whether s was learnt.
func (s Server) Known() bool { return s.Engine != "" }

// The oldest versions haredis supports: Redis 7.0 (Sentinel's DEBUG
// timings, CLIENT PAUSE WRITE, the multi-part AOF it reads positions
// from), Valkey from its first release, 7.2.
var (
	MinRedis  = Version{7, 0, 0}
	MinValkey = Version{7, 2, 0}
)

// SupportedRange says which versions haredis runs, for messages.
const SupportedRange = "Redis 7.0 and later, Valkey 7.2 and later"

// Supported is nil when haredis runs s, else an error saying why.
func (s Server) Supported() error {
	switch s.Engine {
	case Redis:
		if s.Version.Less(MinRedis) {
			return fmt.Errorf("%s is not supported: haredis runs %s", s, SupportedRange)
		}
	case Valkey:
		if s.Version.Less(MinValkey) {
			return fmt.Errorf("%s is not supported: haredis runs %s", s, SupportedRange)
		}
	default:
		return fmt.Errorf("the server's engine is unknown: haredis runs %s", SupportedRange)
	}
	return nil
}

// RDBFormat is the RDB format version s writes (the number after REDIS or
// VALKEY in a dump's header): Redis 7.0 writes 10, Redis 7.2 and Valkey
// 7.2 to 8.x 11, Redis 7.4 and later 12, Valkey 9.0 and later 80.
func (s Server) RDBFormat() int {
	v := s.Version
	switch {
	case s.Engine == Valkey && v.Major >= 9:
		return 80
	case s.Engine == Valkey:
		return 11
	case v.Less(Version{7, 2, 0}):
		return 10
	case v.Less(Version{7, 4, 0}):
		return 11
	default:
		return 12
	}
}

// Reads tells whether s loads RDB format f: every server reads its own
// format and the older open formats (up to 11, the last Redis and Valkey
// share); Redis 7.4 and later read 12, Valkey 9.0 and later 80. Redis's 12
// is not loaded by Valkey by default (its relaxed check is opt-in and
// fails on types Valkey lacks), nor Valkey's 80 by Redis.
func (s Server) Reads(f int) bool {
	own := s.RDBFormat()
	return f <= min(own, 11) || f == own
}

// CheckMove is nil when instances running from can be replaced one by one
// with to, keeping the data: to must be supported, must not be an older
// version of the same engine (a downgrade, which neither project
// supports), and must read what from writes, since to's replicas load the
// old primary's RDB during the move.
func CheckMove(from, to Server) error {
	if err := to.Supported(); err != nil {
		return err
	}
	if !from.Known() {
		return nil
	}
	if from.Engine == to.Engine && to.Version.Less(from.Version) && (to.Version.Major != from.Version.Major || to.Version.Minor != from.Version.Minor) {
		return fmt.Errorf("moving from %s to %s is a downgrade, which %s does not support: its older version may not read what the newer wrote", from, to, from.Engine)
	}
	if !to.Reads(from.RDBFormat()) {
		return fmt.Errorf("%s cannot read the RDB format %d that %s writes: its replicas could not load the primary's data", to, from.RDBFormat(), from)
	}
	return nil
}

var versionOutputRE = regexp.MustCompile(`^(Redis|Valkey) (?:server|sentinel) v=(\d+)\.(\d+)\.(\d+)`)

// ParseVersionOutput reads what `redis-server --version` or
// `valkey-server --version` prints.
func ParseVersionOutput(out string) (Server, error) {
	m := versionOutputRE.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil {
		return Server{}, fmt.Errorf("cannot read a Redis or Valkey version from %q", strings.TrimSpace(out))
	}
	return Server{Engine: Name(strings.ToLower(m[1])), Version: atoiVersion(m[2], m[3], m[4])}, nil
}

// FromInfo reads the engine and version from INFO server's fields: Valkey
// says server_name:valkey and valkey_version (its redis_version is the
// Redis version it is compatible with, 7.2.4); Redis only redis_version.
func FromInfo(fields map[string]string) (Server, error) {
	if v := fields["valkey_version"]; v != "" || fields["server_name"] == "valkey" {
		ver, err := ParseVersion(v)
		if err != nil {
			return Server{}, fmt.Errorf("INFO server: valkey_version: %w", err)
		}
		return Server{Engine: Valkey, Version: ver}, nil
	}
	ver, err := ParseVersion(fields["redis_version"])
	if err != nil {
		return Server{}, fmt.Errorf("INFO server: redis_version: %w", err)
	}
	return Server{Engine: Redis, Version: ver}, nil
}

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?`)

// ParseVersion reads MAJOR.MINOR[.PATCH] at the start of s.
func ParseVersion(s string) (Version, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%q is not a version", s)
	}
	return atoiVersion(m[1], m[2], m[3]), nil
}

func atoiVersion(major, minor, patch string) Version {
	a, _ := strconv.Atoi(major)
	b, _ := strconv.Atoi(minor)
	c, _ := strconv.Atoi(patch)
	return Version{a, b, c}
}

// Binaries are the executables of an engine.
type Binaries struct{ Server, Sentinel string }

// BinariesOf are s's executables.
func BinariesOf(e Name) Binaries {
	if e == Valkey {
		return Binaries{Server: "valkey-server", Sentinel: "valkey-sentinel"}
	}
	return Binaries{Server: "redis-server", Sentinel: "redis-sentinel"}
}

// Installed is the engine whose server binary lookPath finds, Valkey
// first: a Valkey image may carry the Redis names too, as links to its own
// binaries, while a Redis image carries no valkey-server.
func Installed(lookPath func(string) (string, error)) (Name, error) {
	for _, e := range []Name{Valkey, Redis} {
		if _, err := lookPath(BinariesOf(e).Server); err == nil {
			return e, nil
		}
	}
	return "", fmt.Errorf("neither valkey-server nor redis-server is in PATH: spec.redis.image must be a Redis or Valkey image")
}

// imageRepos are the repositories whose tags are the engine's version.
var imageRepos = map[string]Name{
	"redis": Redis, "library/redis": Redis, "docker.io/redis": Redis, "docker.io/library/redis": Redis,
	"valkey/valkey": Valkey, "docker.io/valkey/valkey": Valkey, "valkey": Valkey, "library/valkey": Valkey,
	"docker.io/library/valkey": Valkey, "ghcr.io/valkey-io/valkey": Valkey,
}

// FromImage reads the engine and version from a well-known image reference
// whose tag starts with a version (redis:7.2.4, valkey/valkey:8.0-alpine);
// ok is false for any other (latest, a digest only, a private
// repository): then only the server itself tells, once it runs. A tag with
// only a major version (redis:7) gives that major's lowest version.
func FromImage(ref string) (s Server, ok bool) {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	i := strings.LastIndex(ref, ":")
	if i < 0 || i < strings.LastIndex(ref, "/") {
		return Server{}, false
	}
	repo, tag := ref[:i], ref[i+1:]
	e, known := imageRepos[repo]
	if !known {
		return Server{}, false
	}
	m := regexp.MustCompile(`^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:$|-)`).FindStringSubmatch(tag)
	if m == nil {
		return Server{}, false
	}
	return Server{Engine: e, Version: atoiVersion(m[1], m[2], m[3])}, true
}
