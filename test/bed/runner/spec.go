package runner

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/haredis/haredis/internal/supervise"
)

// Mount binds Source (a host file or directory) at Target inside the
// container; with Scratch it puts a fresh empty directory in memory there
// instead (an image's VOLUME without a pod volume on it), gone when the
// container ends.
type Mount struct {
	Source   string `json:"source,omitempty"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
	Scratch  bool   `json:"scratch,omitempty"`
}

// Spec is everything the init needs to turn into the container's process.
type Spec struct {
	// Netns is the name of the pod's network namespace.
	Netns string `json:"netns"`
	// Hostname is set in the container's UTS namespace.
	Hostname string `json:"hostname"`
	// Root is an empty host directory on which the container's root is built.
	Root string `json:"root"`
	// Mounts in the order they are made (parents before children).
	Mounts []Mount `json:"mounts"`
	// Argv is the command; Argv[0] is looked up in the PATH of Env inside the
	// container when it has no slash.
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	// Dir is the working directory inside the container; "/" when empty.
	// When missing it is created, in memory unless it lies in a volume.
	Dir string `json:"dir,omitempty"`
	// User runs the command; root when nil.
	User *User `json:"user,omitempty"`
}

// User is the identity of a container's process: its user, primary group
// and supplementary groups (a pod's fsGroup and supplementalGroups).
type User struct {
	UID    int   `json:"uid"`
	GID    int   `json:"gid"`
	Groups []int `json:"groups,omitempty"`
}

const initEnv = "HAREDIS_BED_INIT"

// Command returns the command that runs spec as a container process: the
// running binary re-executed as init, entered into the pod's network
// namespace by nsenter, with stdout and stderr going to out. The spec is
// written next to the root as spec.json. The process gets its own process
// group (so a stop reaches its children too) and dies with the caller.
func Command(spec Spec, out *os.File) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot find the running binary: %w", err)
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("cannot encode container spec: %w", err)
	}
	specPath := filepath.Join(filepath.Dir(spec.Root), filepath.Base(spec.Root)+".json")
	if err := os.WriteFile(specPath, data, 0o600); err != nil {
		return nil, fmt.Errorf("cannot write container spec: %w", err)
	}
	cmd := exec.Command("nsenter", "--net=/run/netns/"+spec.Netns, "--", self)
	cmd.Env = []string{initEnv + "=" + specPath}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Go makes the new mount namespace's propagation private, so nothing
		// mounted inside leaks to the host.
		Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
		Setpgid:      true,
	}
	return cmd, nil
}

// Start starts cmd from the spawner thread and returns once the container's
// command runs: the init has built the container's root and exec'd the
// command (or failed, and exits 128). Before that, an exec into the process
// (a probe, `kubectl exec`) would find the host's root, not the container's,
// and a container runtime reports no container as running before it either.
func Start(cmd *exec.Cmd) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("cannot create the init's pipe: %w", err)
	}
	defer r.Close()
	cmd.ExtraFiles = append(cmd.ExtraFiles, w)
	// ExtraFiles[i] is the child's descriptor 3+i.
	cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", syncEnv, 2+len(cmd.ExtraFiles)))
	// Tied: the kernel kills the container when the bed dies.
	err = supervise.StartTied(cmd)
	w.Close()
	if err != nil {
		return err
	}
	// The init holds the write end until its exec closes it (close-on-exec)
	// or it exits: either way the read ends.
	_ = r.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.Copy(io.Discard, r); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return fmt.Errorf("the container's init did not finish building its root: %w", err)
	}
	return nil
}

// syncEnv tells the init which descriptor to leave open until its exec.
const syncEnv = "HAREDIS_BED_INIT_SYNC"
