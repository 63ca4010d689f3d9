package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/haredis/haredis/internal/supervise"
)

// Region is the region the server's clients sign with; SeaweedFS accepts
// any.
const Region = "us-east-1"

// DefaultBucket is the bucket Start makes when Options.Bucket is empty.
const DefaultBucket = "haredis-test"

// Options configure a server; every field has a default.
type Options struct {
	// Binary is the SeaweedFS binary; empty means Binary().
	Binary string
	// Bucket is made before Start returns; empty means DefaultBucket.
	Bucket string
	// AccessKeyID and SecretAccessKey are the one identity the server
	// accepts, with every permission; empty means random ones.
	AccessKeyID     string
	SecretAccessKey string
	// StartTimeout bounds the wait until the server stores an object;
	// zero means 60 s.
	StartTimeout time.Duration
}

// Server is a running SeaweedFS with its S3 gateway on loopback.
type Server struct {
	// Endpoint is the S3 gateway's URL, http://127.0.0.1:PORT.
	Endpoint        string
	AccessKeyID     string
	SecretAccessKey string
	// Bucket exists and is empty when Start returns.
	Bucket string
	// Dir holds the data, the configuration and weed.log; Stop removes it.
	Dir string

	cmd       *exec.Cmd
	exited    chan struct{}
	grpcPorts map[string]int
	stopOnce  sync.Once
	stopErr   error
}

// Run starts a server for one test and stops it when the test ends; it
// fails the test when the server cannot start.
func Run(t testing.TB, opts Options) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("cannot start the S3 server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("cannot stop the S3 server: %v", err)
		}
	})
	return s
}

// Start starts SeaweedFS on free loopback ports in a new temporary
// directory and returns once the bucket exists and an object can be stored
// in it. A port taken by someone else between its choice and the server's
// start makes it try again with new ports.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Binary == "" {
		b, err := Binary()
		if err != nil {
			return nil, err
		}
		opts.Binary = b
	}
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	if opts.AccessKeyID == "" {
		opts.AccessKeyID = "HAREDIS" + strings.ToUpper(randomHex(8))
	}
	if opts.SecretAccessKey == "" {
		opts.SecretAccessKey = randomHex(20)
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	var lastErr error
	for range 3 {
		s, err := start(ctx, opts)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, opts Options) (_ *Server, err error) {
	dir, err := os.MkdirTemp("", "haredis-s3-")
	if err != nil {
		return nil, fmt.Errorf("cannot create the S3 server's directory: %w", err)
	}
	s := &Server{
		AccessKeyID:     opts.AccessKeyID,
		SecretAccessKey: opts.SecretAccessKey,
		Bucket:          opts.Bucket,
		Dir:             dir,
	}
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()
	args, err := s.prepare()
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "weed.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the S3 server's log: %w", err)
	}
	cmd := exec.Command(opts.Binary, args...)
	cmd.Dir = dir
	cmd.Env = serverEnv(dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := supervise.StartTied(cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("cannot start %s: %w", opts.Binary, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, opts.StartTimeout); err != nil {
		return nil, err
	}
	return s, nil
}

// prepare picks the ports, writes the identity file and returns weed's
// arguments.
func (s *Server) prepare() ([]string, error) {
	ports, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	s.Endpoint = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[6]))
	s.grpcPorts = map[string]int{"master": ports[1], "volume": ports[3], "filer": ports[5], "s3": ports[7]}

	identities := map[string]any{"identities": []any{map[string]any{
		"name":        "haredis",
		"credentials": []any{map[string]string{"accessKey": s.AccessKeyID, "secretKey": s.SecretAccessKey}},
		"actions":     []string{"Admin", "Read", "List", "Tagging", "Write"},
	}}}
	b, err := json.Marshal(identities)
	if err != nil {
		return nil, fmt.Errorf("cannot encode the S3 identities: %w", err)
	}
	config := filepath.Join(s.Dir, "s3.json")
	if err := os.WriteFile(config, b, 0o600); err != nil {
		return nil, fmt.Errorf("cannot write the S3 identities: %w", err)
	}
	data := filepath.Join(s.Dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the S3 server's data directory: %w", err)
	}
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	return []string{
		"-logtostderr",
		"server",
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-dir=" + data,
		"-master.port=" + p(0), "-master.port.grpc=" + p(1),
		"-master.telemetry=false",
		// Small volumes, enough of them for a few buckets (each bucket
		// is a collection that grows volumes of its own).
		"-master.volumeSizeLimitMB=256", "-volume.max=64",
		"-volume.port=" + p(2), "-volume.port.grpc=" + p(3),
		"-volume.preStopSeconds=0",
		"-filer", "-filer.port=" + p(4), "-filer.port.grpc=" + p(5),
		"-filer.localSocket=" + filepath.Join(s.Dir, "filer.sock"),
		"-s3", "-s3.port=" + p(6), "-s3.port.grpc=" + p(7),
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.localSocket=" + filepath.Join(s.Dir, "s3.sock"),
		"-s3.config=" + config,
		// A missing bucket must stay missing, as on a real store.
		"-s3.autoCreateBucket=false",
	}, nil
}

// serverEnv is this process's environment without what would make weed
// read someone else's configuration (WEED_* overrides, AWS_* credentials,
// $HOME/.seaweedfs), and with a key for encryption.
func serverEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "WEED_") || strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	// A key of its own for server-side encryption with store-managed keys
	// (SSE-S3, AES256), which SeaweedFS refuses without one.
	return append(env, "HOME="+dir, "WEED_S3_SSE_KEK="+randomHex(32))
}

// waitReady makes the bucket and stores, then deletes, a probe object: the
// gateway answers before the volume server has joined the master, and
// only a write proves that it has.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := s.Client()
	if err != nil {
		return err
	}
	const probe = ".haredis-s3test-probe"
	var last error
	for {
		last = func() error {
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			defer acancel()
			if err := s.CreateBucket(actx, s.Bucket); err != nil {
				return err
			}
			if _, err := c.PutObject(actx, s.Bucket, probe, strings.NewReader("probe"), 5, minio.PutObjectOptions{}); err != nil {
				return fmt.Errorf("cannot store a probe object: %w", err)
			}
			if err := c.RemoveObject(actx, s.Bucket, probe, minio.RemoveObjectOptions{}); err != nil {
				return fmt.Errorf("cannot delete the probe object: %w", err)
			}
			return nil
		}()
		if last == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("SeaweedFS exited at start (%s): %s", s.cmd.ProcessState, s.LogTail())
		case <-ctx.Done():
			return fmt.Errorf("SeaweedFS did not store an object within %s: %v; log: %s", timeout, last, s.LogTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Client returns a minio-go client with the server's keys, for tests that
// prepare or inspect the store behind the code under test.
func (s *Server) Client() (*minio.Client, error) {
	c, err := minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKeyID, s.SecretAccessKey, ""),
		Region:       Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
		Transport:    http.DefaultTransport,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot make a client of the S3 server: %w", err)
	}
	return c, nil
}

// CreateBucket makes a bucket; one that exists already is fine.
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: Region}); err != nil {
		code := minio.ToErrorResponse(err).Code
		if code == minio.BucketAlreadyOwnedByYou || code == minio.BucketAlreadyExists {
			return nil
		}
		return fmt.Errorf("cannot create bucket %q: %w", name, err)
	}
	return nil
}

// LogTail is the end of weed's log, for failure messages.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "weed.log"))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(bytes.TrimSpace(b))
}

// Stop kills the server and removes its directory and the gRPC sockets
// weed leaves in /tmp. It may be called more than once. SIGKILL, because
// the data goes anyway and weed takes more than 10 s to stop on SIGTERM.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.Kill()
		var errs []error
		// weed binds a Unix socket per gRPC port at a fixed path in /tmp
		// besides the TCP port, whatever the other flags say.
		for name, port := range s.grpcPorts {
			path := fmt.Sprintf("/tmp/seaweedfs-%s-grpc-%d.sock", name, port)
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		if err := os.RemoveAll(s.Dir); err != nil {
			errs = append(errs, err)
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// Kill ends the server at once (SIGKILL) and waits until it is gone,
// leaving its directory for Stop: a store that stops answering.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// freePorts returns n loopback TCP ports that were free a moment ago, all
// held at once so that they differ.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cannot find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
