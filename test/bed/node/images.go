package node

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/haredis/haredis/test/bed/runner"
)

// Image is what an image reference means on the host: a default command and
// environment, and host files bound into the container (the image's content).
type Image struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	// WorkingDir is the image's WORKDIR, used when the container sets none.
	WorkingDir string
	// Volumes are the image's VOLUME directories: each container start gets
	// them fresh and empty (in memory) unless a pod volume is mounted there,
	// as a container runtime makes them in the container's writable layer.
	Volumes []string
	Mounts  []runner.Mount
}

// Images maps image references to host programs. Only images it knows run;
// any other reference fails like an image pull.
type Images struct {
	mu sync.Mutex
	// byName maps a repository (without tag) to a function that accepts or
	// refuses a tag.
	byName map[string]func(tag string) (Image, error)
}

// NewImages knows the host's Redis as redis:* (the tags its version can
// honour), the Valkey unpacked in valkeyDir (its usr/bin) as valkey/valkey:*
// and valkey:* (when valkeyDir is set), and haredisBinary as the project's
// image under projectImage (any tag), with the binary at
// /usr/local/bin/haredis.
func NewImages(projectImage, haredisBinary, valkeyDir string) (*Images, error) {
	im := &Images{byName: map[string]func(string) (Image, error){}}
	version, err := hostRedisVersion()
	if err != nil {
		return nil, err
	}
	redis := func(tag string) (Image, error) {
		if !tagMatches(tag, version) {
			return Image{}, fmt.Errorf("image redis:%s cannot be honoured: the test bed runs the host's Redis %s (use redis:%s, a prefix of it, or latest)", tag, version, version)
		}
		// As the stock image: WORKDIR /data, VOLUME /data, CMD redis-server.
		return Image{
			Cmd:        []string{"redis-server"},
			Env:        []string{"PATH=" + runner.DefaultPath, "REDIS_VERSION=" + version},
			WorkingDir: "/data",
			Volumes:    []string{"/data"},
		}, nil
	}
	for _, name := range []string{"redis", "library/redis", "docker.io/library/redis", "docker.io/redis"} {
		im.byName[name] = redis
	}
	if valkeyDir != "" {
		valkey := valkeyImage(valkeyDir)
		for _, name := range []string{"valkey/valkey", "docker.io/valkey/valkey", "valkey", "library/valkey", "docker.io/library/valkey"} {
			im.byName[name] = valkey
		}
	}
	if projectImage != "" {
		im.byName[projectImage] = func(string) (Image, error) {
			return Image{
				Entrypoint: []string{"/usr/local/bin/haredis"},
				Env:        []string{"PATH=" + runner.DefaultPath},
				Mounts:     []runner.Mount{{Source: haredisBinary, Target: "/usr/local/bin/haredis", ReadOnly: true}},
			}, nil
		}
	}
	return im, nil
}

// Add teaches the bed one more image (any tag).
func (im *Images) Add(name string, img Image) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.byName[name] = func(string) (Image, error) { return img, nil }
}

// Resolve returns what ref runs, or an error that reads like a failed pull.
func (im *Images) Resolve(ref string) (Image, error) {
	name, tag := splitRef(ref)
	im.mu.Lock()
	fn, ok := im.byName[name]
	im.mu.Unlock()
	if !ok {
		return Image{}, fmt.Errorf("image %q is not available in the test bed (it runs host programs for redis:* and the project's image only)", ref)
	}
	return fn(tag)
}

func splitRef(ref string) (name, tag string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	tag = "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref, tag = ref[:i], ref[i+1:]
	}
	return ref, tag
}

// tagMatches accepts latest, the full version and its prefixes at dot
// boundaries, each optionally with a distribution suffix such as -bookworm.
func tagMatches(tag, version string) bool {
	if tag == "latest" {
		return true
	}
	base, _, _ := strings.Cut(tag, "-")
	return base == version || strings.HasPrefix(version, base+".")
}

var redisVersionRE = regexp.MustCompile(`v=(\d+\.\d+\.\d+)`)

func hostRedisVersion() (string, error) {
	out, err := exec.Command("redis-server", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("cannot run the host's redis-server: %w", err)
	}
	m := redisVersionRE.FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("cannot read the version of redis-server from %q", out)
	}
	return m[1], nil
}

// valkeyBinDir is where a Valkey image's binaries are in its containers,
// first in PATH (ahead of the host's Redis).
const valkeyBinDir = "/opt/valkey/bin"

// valkeyImage runs the Valkey unpacked in dir (dir/usr/bin, bound at
// valkeyBinDir: the repository may lie where containers see another
// filesystem, such as /tmp) as the stock image does: WORKDIR /data, VOLUME
// /data, CMD valkey-server.
func valkeyImage(dir string) func(tag string) (Image, error) {
	bin := filepath.Join(dir, "usr", "bin")
	return func(tag string) (Image, error) {
		version, err := valkeyVersion(bin)
		if err != nil {
			return Image{}, err
		}
		if !tagMatches(tag, version) {
			return Image{}, fmt.Errorf("image valkey:%s cannot be honoured: the test bed runs Valkey %s (use valkey/valkey:%s, a prefix of it, or latest)", tag, version, version)
		}
		return Image{
			Cmd:        []string{"valkey-server"},
			Env:        []string{"PATH=" + valkeyBinDir + ":" + runner.DefaultPath, "VALKEY_VERSION=" + version},
			WorkingDir: "/data",
			Volumes:    []string{"/data"},
			Mounts:     []runner.Mount{{Source: bin, Target: valkeyBinDir, ReadOnly: true}},
		}, nil
	}
}

func valkeyVersion(bin string) (string, error) {
	out, err := exec.Command(filepath.Join(bin, "valkey-server"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("cannot run the bed's valkey-server (make setup-bed unpacks it into bin/): %w", err)
	}
	m := redisVersionRE.FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("cannot read the version of valkey-server from %q", out)
	}
	return m[1], nil
}
