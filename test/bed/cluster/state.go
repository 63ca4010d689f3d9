package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/haredis/haredis/test/bed/netns"
)

// RegistryDir keeps one record per running bed, so that a later run can
// remove what a crashed one left behind. /run is a tmpfs: a reboot clears it
// together with everything it describes.
const RegistryDir = "/run/haredis-bed"

// record describes one bed for its own cleanup and for later runs.
type record struct {
	ID string `json:"id"`
	// PID of the process that owns the bed; the bed is stale once it is gone.
	PID int `json:"pid"`
	// Dir is the bed's state directory.
	Dir string `json:"dir"`
	// NetnsPrefix starts the name of every network namespace of the bed.
	NetnsPrefix string `json:"netnsPrefix"`
}

func (r record) path() string { return filepath.Join(RegistryDir, r.ID+".json") }

func (r record) write() error {
	if err := os.MkdirAll(RegistryDir, 0o755); err != nil {
		return fmt.Errorf("cannot create bed registry: %w", err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.WriteFile(r.path(), data, 0o644); err != nil {
		return fmt.Errorf("cannot record bed: %w", err)
	}
	return nil
}

func readRecords() ([]record, error) {
	entries, err := os.ReadDir(RegistryDir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read bed registry: %w", err)
	}
	var out []record
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(RegistryDir, e.Name()))
		if err != nil {
			continue
		}
		var r record
		if json.Unmarshal(data, &r) == nil && r.ID != "" {
			out = append(out, r)
		}
	}
	return out, nil
}

func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// CleanupStale removes every bed whose owning process is gone: processes,
// network namespaces (with their links and iptables rules), mounts, loop
// devices and state directories. It returns the IDs it cleaned.
func CleanupStale(ctx context.Context) ([]string, error) {
	recs, err := readRecords()
	if err != nil {
		return nil, err
	}
	var cleaned []string
	var errs []error
	for _, r := range recs {
		if alive(r.PID) {
			continue
		}
		if err := r.remove(ctx); err != nil {
			errs = append(errs, err)
			continue
		}
		cleaned = append(cleaned, r.ID)
	}
	return cleaned, errors.Join(errs...)
}

// remove deletes everything the bed may have left.
func (r record) remove(ctx context.Context) error {
	var errs []error
	for _, pid := range r.processes() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	names, err := netns.List(r.NetnsPrefix)
	if err != nil {
		errs = append(errs, err)
	}
	for _, n := range names {
		if err := netns.Delete(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	for _, m := range mountsUnder(r.Dir) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("cannot unmount %s: %w", m, err))
		}
	}
	for _, dev := range loopsUnder(ctx, r.Dir) {
		if out, err := exec.CommandContext(ctx, "losetup", "-d", dev).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("cannot detach %s: %w: %s", dev, err, out))
		}
	}
	if r.Dir != "" {
		if err := os.RemoveAll(r.Dir); err != nil {
			errs = append(errs, fmt.Errorf("cannot remove %s: %w", r.Dir, err))
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(r.path()); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists what of the bed still exists on the host; empty after a
// clean stop.
func (r record) leftovers(ctx context.Context) []string {
	var out []string
	for _, pid := range r.processes() {
		out = append(out, "process "+strconv.Itoa(pid))
	}
	names, _ := netns.List(r.NetnsPrefix)
	for _, n := range names {
		out = append(out, "netns "+n)
	}
	for _, m := range mountsUnder(r.Dir) {
		out = append(out, "mount "+m)
	}
	for _, d := range loopsUnder(ctx, r.Dir) {
		out = append(out, "loop device "+d)
	}
	if _, err := os.Stat(r.Dir); err == nil {
		out = append(out, "directory "+r.Dir)
	}
	if _, err := os.Stat(r.path()); err == nil {
		out = append(out, "record "+r.path())
	}
	return out
}

// processes finds processes of the bed: those whose command line names its
// directory (control plane, kube-proxy, CoreDNS) and those whose root or
// working directory is inside it (containers).
func (r record) processes() []int {
	if r.Dir == "" {
		return nil
	}
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		base := filepath.Join("/proc", e.Name())
		cmdline, _ := os.ReadFile(filepath.Join(base, "cmdline"))
		root, _ := os.Readlink(filepath.Join(base, "root"))
		cwd, _ := os.Readlink(filepath.Join(base, "cwd"))
		if strings.Contains(string(cmdline), r.Dir+"/") || strings.HasPrefix(root, r.Dir+"/") || strings.HasPrefix(cwd, r.Dir+"/") {
			out = append(out, pid)
		}
	}
	return out
}

// mountsUnder lists the host's mount points inside dir, deepest first.
func mountsUnder(dir string) []string {
	if dir == "" {
		return nil
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append(out, fields[4])
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// loopsUnder lists loop devices whose backing file is inside dir.
func loopsUnder(ctx context.Context, dir string) []string {
	if dir == "" {
		return nil
	}
	out, err := exec.CommandContext(ctx, "losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE").Output()
	if err != nil {
		return nil
	}
	var devs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && strings.HasPrefix(f[1], dir+"/") {
			devs = append(devs, f[0])
		}
	}
	return devs
}
