package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/engine"
	"github.com/haredis/haredis/internal/objectstore"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/s3test"
	"github.com/haredis/haredis/internal/writeload"
	"github.com/haredis/haredis/test/bed/cluster"
)

// store is the S3-compatible server of the backup tests, on the host's
// loopback, published to pods as the Service s3 of its own namespace.
var store struct {
	once sync.Once
	srv  *s3test.Server
	// endpoint is the URL pods use.
	endpoint string
	err      error
}

func s3Store(t *testing.T) (*s3test.Server, string) {
	t.Helper()
	store.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		store.srv, store.err = s3test.Start(ctx, s3test.Options{})
		if store.err != nil {
			return
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "s3-"}}
		if store.err = kc.Create(ctx, ns); store.err != nil {
			return
		}
		var addr string
		addr, store.err = env.Bed.Publish(ctx, ns.Name, "s3", 9000, strings.TrimPrefix(store.srv.Endpoint, "http://"))
		store.endpoint = "http://" + addr
	})
	if store.err != nil {
		t.Fatalf("cannot start the S3 server: %v", store.err)
	}
	return store.srv, store.endpoint
}

// credentialsSecret creates the Secret NAME with the store's keys in ns.
func credentialsSecret(t *testing.T, ns, name string, srv *s3test.Server, secretKey string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: map[string]string{
		haredisv1.CredentialsAccessKeyID: srv.AccessKeyID, haredisv1.CredentialsSecretAccessKey: secretKey,
	}}
	if err := kc.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func createBackup(t *testing.T, ns, name, failover string, store *haredisv1.ObjectStore) {
	t.Helper()
	rb := &haredisv1.RedisBackup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: haredisv1.RedisBackupSpec{Failover: haredisv1.LocalObjectReference{Name: failover}, ObjectStore: store}}
	if err := kc.Create(context.Background(), rb); err != nil {
		t.Fatal(err)
	}
}

// waitBackup waits until the RedisBackup's Completed condition has reason
// and returns it.
func waitBackup(t *testing.T, ns, name, reason string, timeout time.Duration) *haredisv1.RedisBackup {
	t.Helper()
	rb := &haredisv1.RedisBackup{}
	redistest.WaitFor(t, timeout, fmt.Sprintf("RedisBackup %s %s", name, reason), func(ctx context.Context) error {
		if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rb); err != nil {
			return err
		}
		c := meta.FindStatusCondition(rb.Status.Conditions, haredisv1.ConditionBackupCompleted)
		if c == nil || c.Reason != reason {
			return fmt.Errorf("phase %s, condition %+v", rb.Status.Phase, c)
		}
		return nil
	})
	return rb
}

// TestBackupUnderLoadHoldsTheDataSet backs up a RedisFailover that takes
// writes, from a replica, and loads the object into a fresh server: every
// key of every type is there with its value and expiration, and so is
// every write acknowledged before the backup was asked for.
func TestBackupUnderLoadHoldsTheDataSet(t *testing.T) {
	srv, endpoint := s3Store(t)
	ns := newNamespace(t, "backup")
	credentialsSecret(t, ns, "s3", srv, srv.SecretAccessKey)
	objStore := haredisv1.ObjectStore{Endpoint: endpoint, Bucket: srv.Bucket, Prefix: "e2e",
		CredentialsSecret: &haredisv1.LocalObjectReference{Name: "s3"}}
	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
		Spec: haredisv1.RedisFailoverSpec{Backup: &haredisv1.BackupSpec{ObjectStore: objStore}}}
	if err := kc.Create(context.Background(), rf); err != nil {
		t.Fatal(err)
	}
	rf = waitRFReady(t, ns, "app", 5*time.Minute)
	pw := password(t, ns, "app")
	ctx := context.Background()
	primary, err := getPod(ctx, ns, rf.Status.CurrentPrimary)
	if err != nil {
		t.Fatal(err)
	}
	pc := plainClient(podAddr(primary), pw)
	defer pc.Close()
	data := redistest.Dataset{Prefix: "ds", N: 200}
	if err := data.Write(ctx, pc); err != nil {
		t.Fatal(err)
	}
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	load := writeload.Start(lctx, pc, writeload.Options{Prefix: "load", Interval: time.Millisecond, MaxDuration: 5 * time.Minute})
	if err := load.WaitAcked(ctx, 500); err != nil {
		t.Fatal(err)
	}
	ackedBefore := load.Stop().Acked
	load = writeload.Start(lctx, pc, writeload.Options{Prefix: "later", Interval: time.Millisecond, MaxDuration: 5 * time.Minute})

	// Taken as a user takes one: kubectl haredis backup, which waits for it
	// and prints what it holds.
	bin := buildPlugin(t)
	haredis := func(args ...string) string {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(cctx, bin, append([]string{"--kubeconfig=" + env.Bed.KubeconfigPath, "-n", ns}, args...)...).Output()
		if err != nil {
			t.Fatalf("kubectl haredis %v: %v\n%s%s", args, err, out, stderrOf(err))
		}
		return string(out)
	}
	printed := haredis("backup", "app", "--name", "first", "--wait", "3m")
	rb := waitBackup(t, ns, "first", haredisv1.ReasonBackupCompleted, time.Second)
	flat := strings.Join(strings.Fields(printed), " ")
	for _, want := range []string{"created RedisBackup first of app", "phase Completed", "sha256 " + rb.Status.SHA256, "source " + rb.Status.Source + " (replica)"} {
		if !strings.Contains(flat, want) {
			t.Errorf("kubectl haredis backup printed no %q:\n%s", want, printed)
		}
	}
	rep := load.Stop()
	if len(rep.Failures) > 0 {
		t.Errorf("writes failed during the backup: %s", rep.Summary())
	}
	st := rb.Status
	if st.Phase != haredisv1.BackupCompleted || st.SourceRole != haredisv1.RoleReplica || st.Source == rf.Status.CurrentPrimary {
		t.Errorf("backup taken from %s (%s), phase %s; want a replica", st.Source, st.SourceRole, st.Phase)
	}
	if st.ReplicationOffset <= 0 || st.ReplicationID == "" || st.SHA256 == "" || st.SizeBytes <= 0 || !strings.HasPrefix(st.Server, "valkey ") || st.RDBVersion == 0 {
		t.Errorf("incomplete status: %+v", st)
	}
	if want := int64(len(data.Keys()) + len(ackedBefore)); st.Keys < want {
		t.Errorf("status.keys %d, want at least %d", st.Keys, want)
	}
	if st.Location == nil || !strings.HasPrefix(st.Location.Key, "e2e/"+ns+"/app/backups/first-") {
		t.Errorf("location %+v, want under e2e/%s/app/backups/", st.Location, ns)
	}

	// The object, read from the store, is what the status says.
	oc, err := objectstore.New(objectstore.Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket,
		Credentials: objectstore.Credentials{AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey}})
	if err != nil {
		t.Fatal(err)
	}
	body, _, err := oc.Get(ctx, st.Location.Key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "restore.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), body)
	body.Close()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != st.SHA256 || n != st.SizeBytes {
		t.Fatalf("object: %d bytes sha256 %s; status: %d bytes sha256 %s", n, sum, st.SizeBytes, st.SHA256)
	}

	// Loaded into a fresh server of the same engine, it holds the data set.
	valkey, err := cluster.DefaultValkeyDir()
	if err != nil {
		t.Fatal(err)
	}
	copyServer, err := redistest.StartServer(redistest.ServerConfig{
		Binary: filepath.Join(valkey, "usr", "bin", engine.BinariesOf(engine.Valkey).Server),
		Extra:  []string{"dir " + dir, "dbfilename restore.rdb", "appendonly no"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer copyServer.Close()
	cc := copyServer.Client()
	defer cc.Close()
	if err := data.Compare(ctx, pc, cc); err != nil {
		t.Error(err)
	}
	// status.keys is read as the snapshot begins: the load's writes of
	// that moment may or may not be in it (how many depends on how busy
	// the machine is), nothing else differs.
	copyKeys := cc.DBSize(ctx).Val()
	if d := copyKeys - st.Keys; d < -int64(len(rep.Acked)) || d > int64(len(rep.Acked)) {
		t.Errorf("the object holds %d keys, status.keys says %d: more apart than the %d writes of the load during the backup", copyKeys, st.Keys, len(rep.Acked))
	}
	missing := 0
	for _, i := range ackedBefore {
		if cc.Exists(ctx, writeload.Key("load", i)).Val() != 1 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d writes acknowledged before the backup was asked for are not in it", missing, len(ackedBefore))
	}

	// Restored into a new RedisFailover with kubectl haredis restore (its
	// manifest first, then --apply): Ready only with the data set loaded,
	// on the primary and on every replica.
	var manifest haredisv1.RedisFailover
	if err := json.Unmarshal([]byte(haredis("restore", "first", "restored", "-o", "json")), &manifest); err != nil {
		t.Fatal(err)
	}
	if b := manifest.Spec.Bootstrap; b == nil || b.FromBackup == nil || b.FromBackup.Name != "first" || manifest.Name != "restored" {
		t.Errorf("restore manifest: %s, bootstrap %+v", manifest.Name, b)
	}
	if out := haredis("restore", "first", "restored", "--apply"); !strings.Contains(out, "created RedisFailover restored from RedisBackup first") {
		t.Errorf("kubectl haredis restore --apply printed %q", out)
	}
	restored := waitRFReady(t, ns, "restored", 5*time.Minute)
	c := meta.FindStatusCondition(restored.Status.Conditions, haredisv1.ConditionBootstrapped)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != haredisv1.ReasonBootstrapLoaded {
		t.Errorf("Bootstrapped %+v", c)
	}
	rpw := password(t, ns, "restored")
	for _, in := range restored.Status.Instances {
		pod, err := getPod(ctx, ns, in.Name)
		if err != nil {
			t.Fatal(err)
		}
		ic := plainClient(podAddr(pod), rpw)
		redistest.WaitFor(t, time.Minute, in.Name+" of the restored RedisFailover holds the data set", func(ctx context.Context) error {
			if err := data.Compare(ctx, cc, ic); err != nil {
				return err
			}
			if got := ic.DBSize(ctx).Val(); got != copyKeys {
				return fmt.Errorf("%d keys, the backup holds %d", got, copyKeys)
			}
			return nil
		})
		ic.Close()
	}
}

// TestRestoreBadInputSaysWhy: a restore from a missing backup creates no
// pod and says why; a seed whose checksum differs is not loaded and the
// RedisFailover does not become Ready empty.
func TestRestoreBadInputSaysWhy(t *testing.T) {
	srv, endpoint := s3Store(t)
	ns := newNamespace(t, "restore-bad")
	ctx := context.Background()
	missing := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "missing"},
		Spec: haredisv1.RedisFailoverSpec{Bootstrap: &haredisv1.BootstrapSpec{FromBackup: &haredisv1.LocalObjectReference{Name: "nothing"}}}}
	if err := kc.Create(ctx, missing); err != nil {
		t.Fatal(err)
	}
	waitBootstrapped(t, ns, "missing", haredisv1.ReasonBootstrapSourceMissing, "RedisBackup nothing does not exist")
	var pods corev1.PodList
	if err := kc.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) > 0 {
		t.Errorf("%d pods created for a RedisFailover whose seed is missing", len(pods.Items))
	}

	// A real RDB with a wrong checksum.
	oc, err := objectstore.New(objectstore.Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket,
		Credentials: objectstore.Credentials{AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey}})
	if err != nil {
		t.Fatal(err)
	}
	seed, err := redistest.StartServer(redistest.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer seed.Close()
	sc := seed.Client()
	defer sc.Close()
	if err := sc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := sc.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(seed.Dir(), "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oc.Put(ctx, ns+"/dump.rdb", bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	credentialsSecret(t, ns, "s3", srv, srv.SecretAccessKey)
	wrong := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wrong"},
		Spec: haredisv1.RedisFailoverSpec{
			Redis: haredisv1.RedisSpec{Image: redisImage},
			Bootstrap: &haredisv1.BootstrapSpec{FromRDB: &haredisv1.RDBSource{
				ObjectStore: &haredisv1.ObjectStore{Endpoint: endpoint, Bucket: srv.Bucket, CredentialsSecret: &haredisv1.LocalObjectReference{Name: "s3"}},
				Key:         ns + "/dump.rdb", SHA256: strings.Repeat("ab", 32)}}}}
	if err := kc.Create(ctx, wrong); err != nil {
		t.Fatal(err)
	}
	rf := waitBootstrapped(t, ns, "wrong", haredisv1.ReasonBootstrapFailed, "has SHA-256")
	if meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionReady) {
		t.Error("Ready with a refused seed")
	}
}

func waitBootstrapped(t *testing.T, ns, name, reason, says string) *haredisv1.RedisFailover {
	t.Helper()
	var rf *haredisv1.RedisFailover
	redistest.WaitFor(t, 3*time.Minute, name+" Bootstrapped "+reason, func(ctx context.Context) error {
		var err error
		if rf, err = getRF(ctx, ns, name); err != nil {
			return err
		}
		c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionBootstrapped)
		if c == nil || c.Reason != reason || !strings.Contains(c.Message, says) {
			return fmt.Errorf("Bootstrapped %+v", c)
		}
		return nil
	})
	return rf
}

// TestBackupBadInputSaysWhy: every mistake keeps the backup Pending with a
// reason naming the field to fix, and touches nothing.
func TestBackupBadInputSaysWhy(t *testing.T) {
	srv, endpoint := s3Store(t)
	ns, rf, _ := newReadyRF(t, "backup-bad", func(rf *haredisv1.RedisFailover) { rf.Spec.Redis.Replicas = 2 })
	credentialsSecret(t, ns, "good", srv, srv.SecretAccessKey)
	credentialsSecret(t, ns, "wrong", srv, "not-the-secret-key")
	objStore := func(bucket, secret string) *haredisv1.ObjectStore {
		return &haredisv1.ObjectStore{Endpoint: endpoint, Bucket: bucket, CredentialsSecret: &haredisv1.LocalObjectReference{Name: secret}}
	}
	for _, tc := range []struct {
		name, failover string
		store          *haredisv1.ObjectStore
		reason, says   string
	}{
		{"no-failover", "nothing", objStore(srv.Bucket, "good"), haredisv1.ReasonBackupFailoverNotFound, "spec.failover.name"},
		{"no-store", rf.Name, nil, haredisv1.ReasonBackupNoObjectStore, "spec.backup.objectStore"},
		{"no-secret", rf.Name, objStore(srv.Bucket, "missing"), haredisv1.ReasonBackupCredentialsMissing, "missing"},
		{"wrong-key", rf.Name, objStore(srv.Bucket, "wrong"), haredisv1.ReasonBackupStoreRefused, "secret"},
		{"no-bucket", rf.Name, objStore("no-such-bucket", "good"), haredisv1.ReasonBackupStoreRefused, "no-such-bucket"},
		{"unreachable", rf.Name, &haredisv1.ObjectStore{Endpoint: "http://127.0.0.1:9", Bucket: srv.Bucket,
			CredentialsSecret: &haredisv1.LocalObjectReference{Name: "good"}}, haredisv1.ReasonBackupStoreUnreachable, "127.0.0.1:9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			createBackup(t, ns, tc.name, tc.failover, tc.store)
			rb := waitBackup(t, ns, tc.name, tc.reason, time.Minute)
			c := meta.FindStatusCondition(rb.Status.Conditions, haredisv1.ConditionBackupCompleted)
			if rb.Status.Phase != haredisv1.BackupPending || !strings.Contains(c.Message, tc.says) {
				t.Errorf("phase %s, message %q; want Pending and a message naming %q", rb.Status.Phase, c.Message, tc.says)
			}
		})
	}
	// Nothing was written to the bucket.
	oc, err := objectstore.New(objectstore.Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket,
		Credentials: objectstore.Credentials{AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey}})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := oc.List(context.Background(), ns+"/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) > 0 {
		t.Errorf("bad input wrote %d objects, first %s", len(objs), objs[0].Key)
	}
}

// TestScheduledBackupsAreRetained: a schedule of every minute with keep 2
// produces backups, and retention deletes the oldest ones with their
// objects; the status says where the backups stand.
func TestScheduledBackupsAreRetained(t *testing.T) {
	t.Parallel() // with the others that mostly wait: see TestMain
	srv, endpoint := s3Store(t)
	ns := newNamespace(t, "schedule")
	credentialsSecret(t, ns, "s3", srv, srv.SecretAccessKey)
	ctx := context.Background()
	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
		Spec: haredisv1.RedisFailoverSpec{Redis: haredisv1.RedisSpec{Replicas: 2}, Backup: &haredisv1.BackupSpec{
			ObjectStore: haredisv1.ObjectStore{Endpoint: endpoint, Bucket: srv.Bucket, CredentialsSecret: &haredisv1.LocalObjectReference{Name: "s3"}},
			Schedule:    "* * * * *", Keep: 2,
		}}}
	if err := kc.Create(ctx, rf); err != nil {
		t.Fatal(err)
	}
	waitRFReady(t, ns, "app", 5*time.Minute)
	oc, err := objectstore.New(objectstore.Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket,
		Credentials: objectstore.Credentials{AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{} // completed backups seen: name -> object key
	var oldest string
	redistest.WaitFor(t, 6*time.Minute, "three scheduled backups completed and the first deleted", func(ctx context.Context) error {
		var list haredisv1.RedisBackupList
		if err := kc.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{haredisv1.LabelScheduled: "true"}); err != nil {
			return err
		}
		completed := 0
		for _, b := range list.Items {
			if b.Status.Phase == haredisv1.BackupCompleted {
				completed++
				if _, ok := seen[b.Name]; !ok {
					seen[b.Name] = b.Status.Location.Key
					if oldest == "" {
						oldest = b.Name
					}
				}
			}
			if b.Status.Phase == haredisv1.BackupFailed {
				return fmt.Errorf("scheduled backup %s failed: %+v", b.Name, b.Status.Conditions)
			}
		}
		if len(seen) < 3 {
			return fmt.Errorf("%d completed scheduled backups seen", len(seen))
		}
		for _, b := range list.Items {
			if b.Name == oldest {
				return fmt.Errorf("the oldest, %s, is still there", oldest)
			}
		}
		// Retention acts once a backup completes: a third completed one
		// lives for a reconcile at most.
		if completed > 2 {
			return fmt.Errorf("%d completed scheduled backups kept, keep is 2", completed)
		}
		return nil
	})
	if _, err := oc.Stat(ctx, seen[oldest]); !errors.Is(err, objectstore.ErrNotFound) {
		t.Errorf("the object of the deleted backup %s: %v, want it gone", oldest, err)
	}
	got, err := getRF(ctx, ns, "app")
	if err != nil {
		t.Fatal(err)
	}
	c := meta.FindStatusCondition(got.Status.Conditions, haredisv1.ConditionBackupsCurrent)
	if c == nil || c.Status != metav1.ConditionTrue || got.Status.Backup == nil || got.Status.Backup.LastSuccessfulBackup == "" || got.Status.Backup.NextScheduleTime == nil {
		t.Errorf("BackupsCurrent %+v, status.backup %+v", c, got.Status.Backup)
	}
}
