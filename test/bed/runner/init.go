package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func init() {
	specPath := os.Getenv(initEnv)
	if specPath == "" {
		return
	}
	err := runInit(specPath)
	// runInit only returns on failure: the container's command replaced us.
	fmt.Fprintf(os.Stderr, "haredis-bed init: %v\n", err)
	os.Exit(128)
}

func runInit(specPath string) error {
	// The parent-death signal belongs to a thread: the one that sets it
	// must be the one that execs.
	runtime.LockOSThread()
	data, err := os.ReadFile(specPath)
	if err != nil {
		return fmt.Errorf("cannot read container spec: %w", err)
	}
	var spec Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("cannot decode container spec: %w", err)
	}
	if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
		return fmt.Errorf("cannot set hostname: %w", err)
	}
	if err := buildRoot(spec); err != nil {
		return err
	}
	if err := unix.Chroot(spec.Root); err != nil {
		return fmt.Errorf("cannot enter container root: %w", err)
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("cannot enter working directory %s: %w", dir, err)
	}
	path, err := lookPath(spec.Argv[0], spec.Env)
	if err != nil {
		return err
	}
	if u := spec.User; u != nil {
		if err := becomeUser(*u); err != nil {
			return err
		}
	}
	// The starter waits for this descriptor to close: at the exec.
	if fd, err := strconv.Atoi(os.Getenv(syncEnv)); err == nil {
		unix.CloseOnExec(fd)
	}
	return syscall.Exec(path, spec.Argv, spec.Env)
}

// becomeUser drops root for u, as a container runtime does before it
// starts the command. A change of credentials clears the parent-death
// signal, so it is set again: the container still dies with the bed.
func becomeUser(u User) error {
	ppid := os.Getppid()
	// The syscall package's versions change every thread of the process.
	if err := syscall.Setgroups(u.Groups); err != nil {
		return fmt.Errorf("cannot set supplementary groups %v: %w", u.Groups, err)
	}
	if err := syscall.Setresgid(u.GID, u.GID, u.GID); err != nil {
		return fmt.Errorf("cannot set group %d: %w", u.GID, err)
	}
	if err := syscall.Setresuid(u.UID, u.UID, u.UID); err != nil {
		return fmt.Errorf("cannot set user %d: %w", u.UID, err)
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("cannot set the parent-death signal: %w", err)
	}
	if os.Getppid() != ppid {
		return fmt.Errorf("the bed ended while the container started")
	}
	return nil
}

// lookPath resolves a command name as a container runtime does: through the
// PATH of the container's environment, inside the container's root.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		candidate := filepath.Join(dir, name)
		if st, err := os.Stat(candidate); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("executable %q not found in $PATH %s: %w", name, path, exec.ErrNotFound)
}

// DefaultPath is the PATH of a container whose image sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// hostSkip are host top-level entries a container does not see: /tmp is
// private to the container.
// /sys is mounted fresh so that it shows the pod's network namespace.
var hostSkip = map[string]bool{"tmp": true, "sys": true, "lost+found": true}

func buildRoot(spec Spec) error {
	root := spec.Root
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "size=64m,mode=0755"); err != nil {
		return fmt.Errorf("cannot mount container root: %w", err)
	}
	if err := mirror("/", root); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o1777); err != nil {
		return fmt.Errorf("cannot create /tmp: %w", err)
	}
	if err := unix.Mount("tmpfs", filepath.Join(root, "tmp"), "tmpfs", 0, "size=256m,mode=1777"); err != nil {
		return fmt.Errorf("cannot mount /tmp: %w", err)
	}
	if err := os.Mkdir(filepath.Join(root, "sys"), 0o555); err != nil {
		return fmt.Errorf("cannot create /sys: %w", err)
	}
	if err := unix.Mount("sysfs", filepath.Join(root, "sys"), "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("cannot mount /sys: %w", err)
	}
	mounts := append([]Mount(nil), spec.Mounts...)
	// Parents before children, so a volume inside another volume stays visible.
	sort.SliceStable(mounts, func(i, j int) bool {
		return strings.Count(filepath.Clean(mounts[i].Target), "/") < strings.Count(filepath.Clean(mounts[j].Target), "/")
	})
	shadowed := map[string]bool{"/": true}
	for _, m := range mounts {
		if err := bindInto(root, m, shadowed); err != nil {
			return err
		}
	}
	// A missing working directory is made as a container runtime makes it,
	// without writing to the host.
	if spec.Dir != "" {
		if err := ensureDir(root, resolveIn(root, spec.Dir), shadowed); err != nil {
			return fmt.Errorf("cannot create working directory %s: %w", spec.Dir, err)
		}
	}
	return nil
}

// mirror makes every entry of the host directory src appear in dst (a fresh
// tmpfs): directories and files by recursive bind mounts, symlinks as copies.
func mirror(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("cannot list %s: %w", src, err)
	}
	for _, e := range entries {
		if src == "/" && hostSkip[e.Name()] {
			continue
		}
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if err := bindEntry(from, to); err != nil {
			return err
		}
	}
	return nil
}

func bindEntry(from, to string) error {
	st, err := os.Lstat(from)
	if err != nil {
		return fmt.Errorf("cannot inspect %s: %w", from, err)
	}
	switch {
	case st.Mode()&os.ModeSymlink != 0:
		link, err := os.Readlink(from)
		if err != nil {
			return fmt.Errorf("cannot read link %s: %w", from, err)
		}
		if err := os.Symlink(link, to); err != nil {
			return fmt.Errorf("cannot copy link %s: %w", from, err)
		}
		return nil
	case st.IsDir():
		if err := os.Mkdir(to, st.Mode().Perm()); err != nil {
			return fmt.Errorf("cannot create %s: %w", to, err)
		}
	default:
		f, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("cannot create %s: %w", to, err)
		}
		f.Close()
	}
	if err := unix.Mount(from, to, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("cannot bind %s: %w", from, err)
	}
	return nil
}

// bindInto binds m.Source at m.Target inside root. When the target's
// directory does not exist, the nearest existing ancestor that still shows a
// host directory is shadowed by a tmpfs mirror of itself first, so the
// missing directories are created in memory and never on the host.
func bindInto(root string, m Mount, shadowed map[string]bool) error {
	target := resolveIn(root, m.Target)
	if m.Scratch {
		if err := ensureDir(root, target, shadowed); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", filepath.Join(root, target), "tmpfs", 0, "size=1g,mode=0755"); err != nil {
			return fmt.Errorf("cannot mount an empty directory at %s: %w", target, err)
		}
		shadowed[target] = true
		return nil
	}
	st, err := os.Stat(m.Source)
	if err != nil {
		return fmt.Errorf("cannot inspect volume source %s: %w", m.Source, err)
	}
	parent := target
	if !st.IsDir() {
		parent = filepath.Dir(target)
	}
	if err := ensureDir(root, parent, shadowed); err != nil {
		return err
	}
	full := filepath.Join(root, target)
	if !st.IsDir() {
		if _, err := os.Stat(full); os.IsNotExist(err) {
			if err := ensureDir(root, filepath.Dir(target), shadowed); err != nil {
				return err
			}
			if !shadowed[filepath.Dir(target)] {
				if err := shadow(root, filepath.Dir(target), shadowed); err != nil {
					return err
				}
			}
			f, err := os.OpenFile(full, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("cannot create mount point %s: %w", target, err)
			}
			f.Close()
		}
	}
	if err := unix.Mount(m.Source, full, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("cannot bind %s at %s: %w", m.Source, target, err)
	}
	if m.ReadOnly {
		if err := unix.Mount("", full, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("cannot make %s read-only: %w", target, err)
		}
	}
	// A mount point inside the volume must not be shadowed as a host path.
	shadowed[target] = st.IsDir()
	return nil
}

// ensureDir makes dir exist inside root without writing to the host.
func ensureDir(root, dir string, shadowed map[string]bool) error {
	if dir == "/" {
		return nil
	}
	full := filepath.Join(root, dir)
	if st, err := os.Stat(full); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("cannot mount at %s: it is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if err := ensureDir(root, parent, shadowed); err != nil {
		return err
	}
	if !shadowed[parent] {
		if err := shadow(root, parent, shadowed); err != nil {
			return err
		}
	}
	if err := os.Mkdir(full, 0o755); err != nil {
		return fmt.Errorf("cannot create mount point %s: %w", dir, err)
	}
	shadowed[dir] = true
	return nil
}

// shadow replaces the host directory shown at dir by a tmpfs that mirrors it.
func shadow(root, dir string, shadowed map[string]bool) error {
	full := filepath.Join(root, dir)
	stage, err := os.MkdirTemp(root, ".shadow-")
	if err != nil {
		return fmt.Errorf("cannot create staging directory: %w", err)
	}
	if err := unix.Mount(full, stage, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("cannot stage %s: %w", dir, err)
	}
	if err := unix.Mount("tmpfs", full, "tmpfs", 0, "size=16m,mode=0755"); err != nil {
		return fmt.Errorf("cannot shadow %s: %w", dir, err)
	}
	if err := mirror(stage, full); err != nil {
		return err
	}
	if err := unix.Unmount(stage, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("cannot unstage %s: %w", dir, err)
	}
	if err := os.Remove(stage); err != nil {
		return fmt.Errorf("cannot remove staging directory: %w", err)
	}
	shadowed[dir] = true
	return nil
}

// resolveIn resolves symlinks in path as the container will see it: inside
// root (on Debian /var/run links to /run, and must not lead to the host's).
func resolveIn(root, path string) string {
	parts := strings.Split(strings.Trim(filepath.Clean("/"+path), "/"), "/")
	cur := "/"
	for i, hops := 0, 0; i < len(parts); i++ {
		if parts[i] == "" {
			continue
		}
		next := filepath.Join(cur, parts[i])
		st, err := os.Lstat(filepath.Join(root, next))
		if err != nil || st.Mode()&os.ModeSymlink == 0 || hops > 40 {
			cur = next
			continue
		}
		hops++
		link, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			cur = next
			continue
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(cur, link)
		}
		rest := append(strings.Split(strings.Trim(filepath.Clean(link), "/"), "/"), parts[i+1:]...)
		parts, cur, i = rest, "/", -1
	}
	return cur
}
