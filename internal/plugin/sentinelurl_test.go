package plugin

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

// Every format, with the password read from the environment (or hidden),
// written in, and without auth, as golden files.
func TestSentinelURLGolden(t *testing.T) {
	variants := []struct {
		suffix string
		rf     func() *haredisv1.RedisFailover
		show   bool
	}{
		{"", readyRF, false},
		{"-password", readyRF, true},
		{"-noauth", noAuthRF, false},
	}
	for _, f := range Formats() {
		for _, v := range variants {
			t.Run(f.Name+v.suffix, func(t *testing.T) {
				c := fakeClient(t, cluster(v.rf())...)
				out, errOut, err := run(t, func(io genericiooptions.IOStreams) error {
					return SentinelURL(ctx, c, io, "shop", "app", SentinelURLOptions{Format: f.Name, ShowPassword: v.show})
				})
				if err != nil {
					t.Fatal(err)
				}
				golden(t, "sentinel-url/"+f.Name+v.suffix+".txt", out)
				if strings.Contains(out, testPassword) != (v.show && v.suffix != "-noauth") {
					t.Errorf("password shown %v, want %v:\n%s", strings.Contains(out, testPassword), v.show, out)
				}
				if strings.Contains(errOut, testPassword) {
					t.Errorf("the hint shows the password: %s", errOut)
				}
			})
		}
	}
}

func TestSentinelURLJSON(t *testing.T) {
	c := fakeClient(t, cluster(readyRF())...)
	out, _, err := run(t, func(io genericiooptions.IOStreams) error {
		return SentinelURL(ctx, c, io, "shop", "app", SentinelURLOptions{Format: "env", Output: OutputJSON})
	})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "sentinel-url/env.json", out)
	var res SentinelURLResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("-o json does not parse: %v\n%s", err, out)
	}
	if res.MasterName != readyRF().MasterName() || res.Env[specs.ConnPassword] != Hidden || res.PasswordShown {
		t.Errorf("parsed %+v", res)
	}
}

// The go-redis form gives ParseFailoverURL the sentinel password in the
// userinfo and the primary's in password=, for passwords that need
// escaping too.
func TestGoRedisFormParses(t *testing.T) {
	for _, pw := range []string{testPassword, `p@ss:w/rd?&=#%+ "'\`} {
		rf := readyRF()
		conn, err := connectionOf(rf)
		if err != nil {
			t.Fatal(err)
		}
		conn.Password = pw
		opts, err := redis.ParseFailoverURL(strings.TrimSpace(goRedis(&facts{conn: conn, show: true})))
		if err != nil {
			t.Fatalf("password %q: %v", pw, err)
		}
		if opts.MasterName != rf.MasterName() || opts.Password != pw || opts.SentinelPassword != pw || opts.SentinelUsername != "" || opts.Username != "" ||
			len(opts.SentinelAddrs) != 1 || opts.SentinelAddrs[0] != rf.Status.Endpoints.Sentinel || opts.DB != 0 {
			t.Errorf("password %q: parsed %+v", pw, opts)
		}
	}
	conn, _ := connectionOf(noAuthRF())
	opts, err := redis.ParseFailoverURL(strings.TrimSpace(goRedis(&facts{conn: conn})))
	if err != nil || opts.Password != "" || opts.SentinelPassword != "" {
		t.Errorf("without auth: %+v, %v", opts, err)
	}
}

// The Python and Ruby forms are valid code for any password.
func TestCodeFormsParse(t *testing.T) {
	checkers := map[string][]string{
		"redis-py": {"/usr/bin/python3", "-c", "import ast, sys; ast.parse(sys.stdin.read())"},
		"celery":   {"/usr/bin/python3", "-c", "import ast, sys; ast.parse(sys.stdin.read())"},
		"redis-rb": {"ruby", "-c"},
	}
	for format, argv := range checkers {
		if _, err := exec.LookPath(argv[0]); err != nil {
			t.Logf("%s: no %s here; skipped", format, argv[0])
			continue
		}
		f, _ := LookupFormat(format)
		for _, show := range []bool{false, true} {
			conn, _ := connectionOf(readyRF())
			conn.Password = `p@ss'w"rd\#{x}` + "\t"
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Stdin = strings.NewReader(f.render(&facts{conn: conn, show: show}))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s (show %v) is no valid code: %v\n%s", format, show, err, out)
			}
		}
	}
}

func TestLookupFormat(t *testing.T) {
	for alias, want := range map[string]string{"python": "redis-py", "sidekiq": "redis-rb", "spring": "lettuce", "dotnet": "stackexchange", "kombu": "celery", "go": "go-redis"} {
		f, err := LookupFormat(alias)
		if err != nil || f.Name != want {
			t.Errorf("%s: %s, %v; want %s", alias, f.Name, err, want)
		}
	}
	_, err := LookupFormat("hiredis")
	if err == nil || !strings.Contains(err.Error(), `unknown format "hiredis"`) || !strings.Contains(err.Error(), "node-redis") {
		t.Errorf("unknown format: %v", err)
	}
}
