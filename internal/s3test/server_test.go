package s3test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"
)

// The binary's folder is keyed by SEAWEEDFS_VERSION and reused when
// present, so the version there must be the one hack/seaweedfs/go.mod
// builds.
func TestVersionMatchesModule(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	version, err := Version(root)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "hack", "seaweedfs", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := "github.com/seaweedfs/seaweedfs " + version
	for line := range strings.Lines(string(mod)) {
		if strings.TrimPrefix(strings.TrimSpace(line), "require ") == want {
			return
		}
	}
	t.Errorf("hack/seaweedfs/go.mod does not require %s (SEAWEEDFS_VERSION of hack/versions.mk)", want)
}

func TestStartServesBucketAndStopRemovesEverything(t *testing.T) {
	s, err := Start(context.Background(), Options{Bucket: "first"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	c, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ok, err := c.BucketExists(ctx, "first")
	if err != nil || !ok {
		t.Fatalf("bucket first: exists %v, %v", ok, err)
	}
	if err := s.CreateBucket(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(ctx, "second"); err != nil {
		t.Fatalf("creating an existing bucket again: %v", err)
	}
	// The server checks signatures.
	bad := &Server{Endpoint: s.Endpoint, AccessKeyID: s.AccessKeyID, SecretAccessKey: "not-the-secret"}
	bc, err := bad.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bc.BucketExists(ctx, "first"); err == nil {
		t.Error("a wrong secret key was accepted")
	}
	// The probe object of the start is gone: the bucket is empty.
	for obj := range c.ListObjects(ctx, "first", minio.ListObjectsOptions{Recursive: true}) {
		t.Errorf("bucket first holds %q (err %v)", obj.Key, obj.Err)
	}

	pid := s.cmd.Process.Pid
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("weed (pid %d) still runs after Stop", pid)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("directory %s left behind: %v", s.Dir, err)
	}
	for name, port := range s.grpcPorts {
		path := "/tmp/seaweedfs-" + name + "-grpc-" + strconv.Itoa(port) + ".sock"
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("socket %s left behind: %v", path, err)
		}
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}
