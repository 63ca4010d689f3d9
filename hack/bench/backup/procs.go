package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/supervise"
)

const (
	password = "bench-backup-password"
	token    = "bench-backup-manager-token"
	mib      = 1 << 20
)

// cluster is what the managers of one instance.json share.
type cluster struct {
	bin, dir, server string
	cfgPath          string
	pwFile           string
	tokenFile        string
	cfg              *instanceconfig.Config
	redisPorts       map[string]int
	httpPorts        map[string]int
}

// newCluster writes instance.json for names (the first is the initial
// primary), the password and the token files, under dir/name.
func newCluster(bin, dir, name, server, persistence string, names []string, ports *portSet) (*cluster, error) {
	c := &cluster{bin: bin, dir: filepath.Join(dir, name), server: server, redisPorts: map[string]int{}, httpPorts: map[string]int{}}
	if err := os.MkdirAll(filepath.Join(c.dir, "podinfo"), 0o700); err != nil {
		return nil, err
	}
	hosts, managers := map[string]string{}, map[string]string{}
	for _, n := range names {
		rp, err := ports.take()
		if err != nil {
			return nil, err
		}
		hp, err := ports.take()
		if err != nil {
			return nil, err
		}
		c.redisPorts[n], c.httpPorts[n] = rp, hp
		hosts[n], managers[n] = addr(rp), addr(hp)
	}
	c.cfg = &instanceconfig.Config{
		ClusterName: name, MasterName: "bench-backup-" + name, Instances: names, Hosts: hosts, Managers: managers,
		Persistence: persistence, AuthEnabled: true, InitialPrimary: names[0], MinReplicasMaxLagSeconds: 10,
	}
	c.pwFile = filepath.Join(c.dir, "password")
	c.tokenFile = filepath.Join(c.dir, "manager-token")
	for path, content := range map[string]string{c.pwFile: password + "\n", c.tokenFile: token} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	return c, c.writeConfig()
}

func (c *cluster) writeConfig() error {
	if err := c.cfg.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c.cfg, "", "  ")
	if err != nil {
		return err
	}
	c.cfgPath = filepath.Join(c.dir, "instance.json")
	return os.WriteFile(c.cfgPath, b, 0o600)
}

// manager is one `haredis instance run` process and its redis-server.
type manager struct {
	name    string
	cmd     *exec.Cmd
	api     *instanceapi.Client
	redis   *redis.Client
	logPath string
	exited  chan struct{}
}

// start runs the manager of name as a process of its own, tied to this
// one, everything on loopback.
func (c *cluster) start(name string) (*manager, error) {
	base := filepath.Join(c.dir, name)
	for _, d := range []string{base + "/data", base + "/run"} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	args := []string{"instance", "run",
		"--config", c.cfgPath, "--password-file", c.pwFile, "--token-file", c.tokenFile,
		"--pod-info-dir", filepath.Join(c.dir, "podinfo"),
		"--data-dir", base + "/data", "--run-dir", base + "/run",
		"--http-listen", addr(c.httpPorts[name]), "--metrics-listen", "", "--bind", "127.0.0.1", "--redis-port", strconv.Itoa(c.redisPorts[name]),
		"--boot-wait", "5s", "--stop-timeout", "30s",
	}
	if c.server != "" {
		args = append(args, "--redis-server", c.server)
	}
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), "POD_NAME="+name, "POD_IP=127.0.0.1", "POD_NAMESPACE=bench")
	logPath := base + "/manager.log"
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := supervise.StartTied(cmd); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot start the manager of %s: %w", name, err)
	}
	m := &manager{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{}),
		api: &instanceapi.Client{BaseURL: "http://" + addr(c.httpPorts[name]), Token: token},
		redis: redis.NewClient(&redis.Options{Addr: addr(c.redisPorts[name]), Password: password, Protocol: 2, DisableIdentity: true,
			MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 5 * time.Second, PoolSize: 4})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(m.exited)
	}()
	return m, nil
}

func (m *manager) pid() int { return m.cmd.Process.Pid }

// stop ends the manager with SIGTERM (it stops its redis-server), SIGKILL
// after a minute.
func (m *manager) stop() {
	_ = m.redis.Close()
	select {
	case <-m.exited:
		return
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(time.Minute):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
}

// waitStatus polls the manager's status until ok accepts it.
func (m *manager) waitStatus(ctx context.Context, timeout time.Duration, what string, ok func(*instanceapi.Status) error) (*instanceapi.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		select {
		case <-m.exited:
			return nil, fmt.Errorf("the manager of %s exited while waiting until %s; its log ends:\n%s", m.name, what, tail(m.logPath, 30))
		default:
		}
		s, err := m.api.Status(ctx)
		if err == nil {
			if err = ok(s); err == nil {
				return s, nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s did not happen within %s: %v; the log of %s ends:\n%s", what, timeout, last, m.name, tail(m.logPath, 30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// procMem is VmRSS and VmHWM of /proc/PID/status, in bytes.
func procMem(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, 0, fmt.Errorf("cannot parse %s %q", k, v)
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, fmt.Errorf("no VmRSS or VmHWM in /proc/%d/status", pid)
	}
	return rss, hwm, sc.Err()
}

// resetPeak resets VmHWM to the current RSS (clear_refs 5), so that VmHWM
// read later is the peak since now.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// portSet hands out distinct free loopback ports below the kernel's
// ephemeral range, where no outgoing connection takes them meanwhile.
type portSet struct{ taken map[int]bool }

func (p *portSet) take() (int, error) {
	if p.taken == nil {
		p.taken = map[int]bool{}
	}
	return redistest.PickStablePort(p.taken)
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// tail is the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// clockTicks is USER_HZ, the unit of the CPU times of /proc/PID/stat
// (100 on every Linux architecture Go supports).
const clockTicks = 100

// procCPU is the CPU time (user and system, every thread) pid has used.
func procCPU(pid int) (time.Duration, error) {
	_, fields, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	// utime and stime are fields 14 and 15 of stat, 12 and 13 after comm.
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat is too short", pid)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cannot parse /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// procStat is the command name of pid and the fields of /proc/PID/stat
// after it (state, ppid, ...).
func procStat(pid int) (string, []string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", nil, err
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", nil, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	return s[open+1 : end], strings.Fields(s[end+1:]), nil
}

// childNamed is the pid of a child of this process whose command is name,
// 0 when there is none.
func childNamed(name string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, fields, err := procStat(pid)
		if err == nil && comm == name && len(fields) > 1 && fields[1] == self {
			return pid
		}
	}
	return 0
}
