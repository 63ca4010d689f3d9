package runner_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/haredis/haredis/test/bed/netns"
	"github.com/haredis/haredis/test/bed/runner"
)

// TestContainerSeesItsOwnWorld runs a real process through the init and
// checks what it sees: its hostname, its own network namespace, volumes at
// their mount paths (also where the host has no such directory) and a
// private /tmp, while the host stays untouched.
func TestContainerSeesItsOwnWorld(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for namespaces")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("hbtest%d", os.Getpid())
	if err := netns.Add(ctx, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.Delete(context.Background(), name) })

	dir := t.TempDir()
	vol := filepath.Join(dir, "vol")
	conf := filepath.Join(dir, "redis.conf")
	must(t, os.MkdirAll(vol, 0o755))
	must(t, os.WriteFile(filepath.Join(vol, "hello"), []byte("from volume"), 0o644))
	must(t, os.WriteFile(conf, []byte("port 6379"), 0o644))
	root := filepath.Join(dir, "root")
	must(t, os.Mkdir(root, 0o755))
	missing := "/haredis-bed-test-" + name
	out, err := os.Create(filepath.Join(dir, "out.log"))
	must(t, err)
	defer out.Close()

	spec := runner.Spec{
		Netns:    name,
		Hostname: "pod-a",
		Root:     root,
		Mounts: []runner.Mount{
			{Source: vol, Target: missing + "/data"},
			{Source: conf, Target: "/etc/redis/redis.conf", ReadOnly: true},
		},
		Argv: []string{"sh", "-c", `hostname; ls /sys/class/net | tr '\n' ' '; echo; cat ` + missing + `/data/hello; echo; cat /etc/redis/redis.conf; echo; touch /tmp/x && ls /tmp; echo -n $GREETING; pwd`},
		Env:  []string{"GREETING=hi", "PATH=" + runner.DefaultPath},
		Dir:  "/etc",
	}
	cmd, err := runner.Command(spec, out)
	must(t, err)
	must(t, cmd.Run())
	got, err := os.ReadFile(out.Name())
	must(t, err)
	wantLines := []string{"pod-a", "lo", "from volume", "port 6379", "x", "hi/etc"}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	if d := cmp.Diff(wantLines, lines); d != "" {
		t.Errorf("container output (-want +got):\n%s", d)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("the host got %s: %v", missing, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestResolveInFollowsLinksInsideRoot(t *testing.T) {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "run"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "var"), 0o755))
	must(t, os.Symlink("/run", filepath.Join(root, "var", "run")))
	must(t, os.Symlink("../run", filepath.Join(root, "var", "rel")))
	tests := map[string]struct{ path, want string }{
		"absolute link": {path: "/var/run/secrets/token", want: "/run/secrets/token"},
		"relative link": {path: "var/rel/x", want: "/run/x"},
		"no link":       {path: "/data", want: "/data"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, runner.ResolveIn(root, tc.path)); d != "" {
				t.Errorf("ResolveIn(%q) (-want +got):\n%s", tc.path, d)
			}
		})
	}
}

// TestReadOnlyMountScratchAndWorkingDirectory checks what a container runtime
// guarantees: a read-only mount refuses writes with EROFS, also through a
// link in it; an image volume is an empty directory of the container's own;
// a missing working directory is made without touching the host.
func TestReadOnlyMountScratchAndWorkingDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for namespaces")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("hbtest%d-ro", os.Getpid())
	if err := netns.Add(ctx, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.Delete(context.Background(), name) })

	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	must(t, os.MkdirAll(filepath.Join(ro, "..data"), 0o755))
	must(t, os.WriteFile(filepath.Join(ro, "..data", "key"), []byte("v"), 0o644))
	must(t, os.Symlink("..data/key", filepath.Join(ro, "key")))
	root := filepath.Join(dir, "root")
	must(t, os.Mkdir(root, 0o755))
	missing := "/haredis-bed-test-" + name
	out, err := os.Create(filepath.Join(dir, "out.log"))
	must(t, err)
	defer out.Close()

	spec := runner.Spec{
		Netns: name, Hostname: "pod-b", Root: root,
		Mounts: []runner.Mount{
			{Source: ro, Target: "/etc/cfg", ReadOnly: true},
			{Target: missing + "/data", Scratch: true},
		},
		Argv: []string{"sh", "-c", `pwd; cat /etc/cfg/key; echo; ` +
			`echo x 2>&1 >/etc/cfg/key | grep -o 'Read-only file system'; ` +
			`touch /etc/cfg/new 2>&1 | grep -o 'Read-only file system'; ` +
			`ls -A ` + missing + `/data | wc -l; touch ` + missing + `/data/f && echo scratch-ok`},
		Env: []string{"PATH=" + runner.DefaultPath},
		Dir: "/var/lib/" + name + "/wd",
	}
	cmd, err := runner.Command(spec, out)
	must(t, err)
	must(t, cmd.Run())
	got, err := os.ReadFile(out.Name())
	must(t, err)
	want := []string{"/var/lib/" + name + "/wd", "v", "Read-only file system", "Read-only file system", "0", "scratch-ok"}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	if d := cmp.Diff(want, lines); d != "" {
		t.Errorf("container output (-want +got):\n%s", d)
	}
	for _, p := range []string{missing, "/var/lib/" + name} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("the host got %s: %v", p, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(ro, "..data", "key")); err != nil || string(b) != "v" {
		t.Errorf("the read-only volume changed: %q %v", b, err)
	}
}

// TestStartReturnsOnceTheCommandRuns checks that Start returns only after the
// init has built the root and exec'd the command: an exec into the process
// (a probe) must never find the host's root instead of the container's.
func TestStartReturnsOnceTheCommandRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for namespaces")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("hbtest%d-st", os.Getpid())
	if err := netns.Add(ctx, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.Delete(context.Background(), name) })
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "out.log"))
	must(t, err)
	defer out.Close()
	for i := range 5 {
		root := filepath.Join(dir, fmt.Sprintf("root%d", i))
		must(t, os.Mkdir(root, 0o755))
		cmd, err := runner.Command(runner.Spec{
			Netns: name, Hostname: "pod-c", Root: root,
			Argv: []string{"sleep", "30"}, Env: []string{"PATH=" + runner.DefaultPath},
		}, out)
		must(t, err)
		must(t, runner.Start(cmd))
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid))
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if err != nil || filepath.Base(exe) != "sleep" {
			t.Fatalf("right after Start the process runs %q (%v), want sleep", exe, err)
		}
	}
	// A command that cannot be found ends the init; Start still returns.
	root := filepath.Join(dir, "root-missing")
	must(t, os.Mkdir(root, 0o755))
	cmd, err := runner.Command(runner.Spec{
		Netns: name, Hostname: "pod-c", Root: root,
		Argv: []string{"no-such-command"}, Env: []string{"PATH=" + runner.DefaultPath},
	}, out)
	must(t, err)
	must(t, runner.Start(cmd))
	if err := cmd.Wait(); err == nil || cmd.ProcessState.ExitCode() != 128 {
		t.Fatalf("init with a missing command ended with %v, want exit code 128", err)
	}
}

// TestContainerRunsAsItsUser: a spec's User runs the command with that
// user, group and supplementary groups, which cannot write the root.
func TestContainerRunsAsItsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for namespaces")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("hbuser%d", os.Getpid())
	if err := netns.Add(ctx, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.Delete(context.Background(), name) })
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	must(t, os.Mkdir(root, 0o755))
	out, err := os.Create(filepath.Join(dir, "out.log"))
	must(t, err)
	defer out.Close()
	cmd, err := runner.Command(runner.Spec{
		Netns: name, Hostname: "pod-u", Root: root,
		Argv: []string{"sh", "-c", `id -u; id -g; id -G; touch /etc/x 2>/dev/null || echo refused`},
		Env:  []string{"PATH=" + runner.DefaultPath},
		User: &runner.User{UID: 999, GID: 998, Groups: []int{997}},
	}, out)
	must(t, err)
	if err := cmd.Run(); err != nil {
		got, _ := os.ReadFile(out.Name())
		t.Fatalf("%v: %s", err, got)
	}
	got, err := os.ReadFile(out.Name())
	must(t, err)
	if want := "999\n998\n998 997\nrefused\n"; string(got) != want {
		t.Errorf("container output %q, want %q", got, want)
	}
}
