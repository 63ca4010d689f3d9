// Package benchengine gives the benchmarks that compare haredis with plain
// Sentinel the engines they measure: for Valkey and Redis, the image a
// RedisFailover on the test bed runs and the binaries the plain reference
// runs, the same engine as the bed's image: the host's redis-server and
// redis-sentinel for Redis, valkey-server and valkey-sentinel from the bed's
// Valkey directory for Valkey.
package benchengine

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/haredis/haredis/internal/engine"
	"github.com/haredis/haredis/test/bed/cluster"
)

// The images of the engines the bed runs: Valkey 8.0 (the default of
// spec.redis.image) and Redis 7.0 (the host's).
const (
	ValkeyImage = "valkey/valkey:8.0"
	RedisImage  = "redis:7.0"
)

// Default is the value of the -engines flag when it is not given.
const Default = "valkey,redis"

// Engine is one engine to measure.
type Engine struct {
	Name engine.Name
	// Image is spec.redis.image of the RedisFailover on the bed.
	Image string
	// Binaries are the plain reference's executables.
	Binaries engine.Binaries
	// Server is what the reference's server binary says it is.
	Server engine.Server
}

// Title is the engine's name as prose writes it: Valkey, Redis.
func (e Engine) Title() string {
	if e.Name == engine.Valkey {
		return "Valkey"
	}
	return "Redis"
}

// Parse reads a comma-separated list of engines (valkey, redis), finds the
// reference's binaries of each and checks that they run the engine named.
func Parse(list string) ([]Engine, error) {
	var out []Engine
	seen := map[engine.Name]bool{}
	for _, f := range strings.Split(list, ",") {
		name := engine.Name(strings.ToLower(strings.TrimSpace(f)))
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		e, err := resolve(name)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no engine in %q: name valkey, redis or both", list)
	}
	return out, nil
}

func resolve(name engine.Name) (Engine, error) {
	e := Engine{Name: name, Binaries: engine.BinariesOf(name)}
	switch name {
	case engine.Redis:
		e.Image = RedisImage
	case engine.Valkey:
		e.Image = ValkeyImage
		dir, err := cluster.DefaultValkeyDir()
		if err != nil {
			return Engine{}, err
		}
		bin := filepath.Join(dir, "usr", "bin")
		e.Binaries = engine.Binaries{Server: filepath.Join(bin, e.Binaries.Server), Sentinel: filepath.Join(bin, e.Binaries.Sentinel)}
	default:
		return Engine{}, fmt.Errorf("unknown engine %q: name valkey, redis or both", name)
	}
	out, err := exec.Command(e.Binaries.Server, "--version").Output()
	if err != nil {
		return Engine{}, fmt.Errorf("cannot run %s for the plain %s reference (make setup-bed unpacks Valkey into bin/): %w", e.Binaries.Server, e.Title(), err)
	}
	if e.Server, err = engine.ParseVersionOutput(string(out)); err != nil {
		return Engine{}, fmt.Errorf("cannot read the version of %s: %w", e.Binaries.Server, err)
	}
	if e.Server.Engine != name {
		return Engine{}, fmt.Errorf("%s runs %s, not %s", e.Binaries.Server, e.Server, name)
	}
	return e, nil
}
