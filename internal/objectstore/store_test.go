package objectstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/s3test"
)

// store is one SeaweedFS for every test of the package; each test works
// under a prefix of its own.
var store *s3test.Server

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	s, err := s3test.Start(ctx, s3test.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	store = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// client is a Client of the test server under prefix, changed by opts.
func client(t *testing.T, prefix string, opts ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		Endpoint:    store.Endpoint,
		Bucket:      store.Bucket,
		Prefix:      prefix,
		Region:      s3test.Region,
		Credentials: Credentials{AccessKeyID: store.AccessKeyID, SecretAccessKey: store.SecretAccessKey},
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// wantError checks that err matches kind and that its message says each
// of phrases.
func wantError(t *testing.T, err, kind error, phrases ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", kind)
	}
	t.Logf("error: %v", err)
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error %q does not match %v", err, kind)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("error %q is no *Error", err)
	}
	for _, p := range phrases {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

// A 64 MiB object of unknown size, generated on the fly, goes up in 16 MiB
// parts and comes back with the same SHA-256, without the test process
// ever allocating a copy of it.
func TestLargeObjectStreamsBothWays(t *testing.T) {
	const size = 64 << 20
	ctx := testContext(t)
	c := client(t, "large/")

	// A fixed seed: the same bytes at each run, from no buffer at all.
	src := rand.NewChaCha8([32]byte{1, 2, 3})
	want := sha256.New()
	data := io.TeeReader(io.LimitReader(src, size), want)

	// TotalAlloc counts every byte ever allocated on the heap, freed or
	// not, so its growth bounds what Put allocated, even for a moment.
	// Holding the object would allocate at least its 64 MiB (a growing
	// buffer, twice that); streaming allocates one part buffer (16 MiB)
	// and the small buffers of HTTP and signing (about 6 MiB measured).
	// 24 MiB above the part leaves room for those and for the runtime's
	// own allocations while staying well below the object's size.
	const bound = DefaultPartSize + 24<<20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := c.Put(ctx, "dump.rdb", data, -1)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("Put of %d MiB allocated %.1f MiB (heap in use %.1f -> %.1f MiB)", size>>20, float64(grew)/(1<<20),
		float64(before.HeapInuse)/(1<<20), float64(after.HeapInuse)/(1<<20))
	if grew > bound {
		t.Errorf("Put allocated %d bytes for a %d-byte object; streaming should stay under %d", grew, size, bound)
	}
	wantSum := hex.EncodeToString(want.Sum(nil))
	if res.Size != size || res.SHA256 != wantSum || res.Key != "dump.rdb" {
		t.Errorf("Put returned %+v, want size %d and sha256 %s", res, size, wantSum)
	}

	info, err := c.Stat(ctx, "dump.rdb")
	if err != nil || info.Size != size || info.Key != "dump.rdb" {
		t.Errorf("Stat: %+v, %v", info, err)
	}

	runtime.GC()
	runtime.ReadMemStats(&before)
	r, obj, err := c.Get(ctx, "dump.rdb")
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, r)
	r.Close()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if n != size || obj.Size != size || hex.EncodeToString(got.Sum(nil)) != wantSum {
		t.Errorf("Get returned %d bytes (object size %d) with sha256 %x, want %d bytes with %s", n, obj.Size, got.Sum(nil), size, wantSum)
	}
	grew = after.TotalAlloc - before.TotalAlloc
	t.Logf("Get of %d MiB allocated %.1f MiB", size>>20, float64(grew)/(1<<20))
	if grew > bound {
		t.Errorf("Get allocated %d bytes for a %d-byte object; streaming should stay under %d", grew, size, bound)
	}
}

func TestPutOfKnownSize(t *testing.T) {
	ctx := testContext(t)
	c := client(t, "known/")
	body := []byte("a small object of known size")
	res, err := c.Put(ctx, "small", bytes.NewReader(body), int64(len(body)))
	sum := sha256.Sum256(body)
	if err != nil || res.Size != int64(len(body)) || res.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("Put: %+v, %v", res, err)
	}
	r, _, err := c.Get(ctx, "small")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, body) {
		t.Errorf("Get: %q, %v", got, err)
	}

	// A source shorter than announced is its fault, not the store's, and
	// leaves no object.
	_, err = c.Put(ctx, "short", strings.NewReader("12345"), 10)
	wantError(t, err, nil, `cannot store object "known/short"`, "ended after 5 of the 10 bytes announced")
	if _, err := c.Stat(ctx, "short"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a failed Put left an object: %v", err)
	}

	// A source that fails is named as such.
	_, err = c.Put(ctx, "failing", io.MultiReader(strings.NewReader("abc"), failingReader{}), -1)
	wantError(t, err, nil, "cannot read the data to store: disk on fire")
	if _, err := c.Stat(ctx, "failing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a failed Put left an object: %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// Two RedisFailovers share the bucket: a and ab, whose prefixes share their
// first characters. Each lists and deletes its own objects only.
func TestListAndDeleteUnderPrefix(t *testing.T) {
	ctx := testContext(t)
	a := client(t, FailoverPrefix("backups", "prod", "a"))
	ab := client(t, FailoverPrefix("backups", "prod", "ab"))
	put := func(c *Client, key string) {
		t.Helper()
		if _, err := c.Put(ctx, key, strings.NewReader(key), -1); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"2026-01-02/dump.rdb", "2026-01-02/manifest.json", "2026-01-03/dump.rdb", "latest"} {
		put(a, k)
	}
	put(ab, "2026-01-02/dump.rdb")

	keys := func(c *Client, prefix string) []string {
		t.Helper()
		objs, err := c.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range objs {
			out = append(out, o.Key)
			if o.Size != int64(len(o.Key)) {
				t.Errorf("%s: size %d", o.Key, o.Size)
			}
		}
		return out
	}
	if got, want := keys(a, ""), []string{"2026-01-02/dump.rdb", "2026-01-02/manifest.json", "2026-01-03/dump.rdb", "latest"}; !equal(got, want) {
		t.Errorf("a lists %q, want %q", got, want)
	}
	if got, want := keys(a, "2026-01-02/"), []string{"2026-01-02/dump.rdb", "2026-01-02/manifest.json"}; !equal(got, want) {
		t.Errorf("a lists %q under 2026-01-02/, want %q", got, want)
	}
	if got, want := keys(ab, ""), []string{"2026-01-02/dump.rdb"}; !equal(got, want) {
		t.Errorf("ab lists %q, want %q", got, want)
	}
	if got := keys(a, "nothing/"); len(got) != 0 {
		t.Errorf("an empty prefix lists %q", got)
	}

	for _, k := range []string{"2026-01-02/dump.rdb", "2026-01-02/manifest.json"} {
		if err := a.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := keys(a, ""), []string{"2026-01-03/dump.rdb", "latest"}; !equal(got, want) {
		t.Errorf("after deletion a lists %q, want %q", got, want)
	}
	if got, want := keys(ab, ""), []string{"2026-01-02/dump.rdb"}; !equal(got, want) {
		t.Errorf("deleting a's objects touched ab's: %q, want %q", got, want)
	}
	if err := a.Delete(ctx, "2026-01-02/dump.rdb"); err != nil {
		t.Errorf("deleting a missing object: %v", err)
	}

	_, err := a.Stat(ctx, "2026-01-02/dump.rdb")
	wantError(t, err, ErrNotFound, `cannot look up object "backups/prod/a/2026-01-02/dump.rdb" in bucket "`+store.Bucket+`" at `+store.Endpoint, "the object does not exist")
	_, _, err = a.Get(ctx, "2026-01-02/dump.rdb")
	wantError(t, err, ErrNotFound, `cannot read object "backups/prod/a/2026-01-02/dump.rdb"`, "the object does not exist")
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func TestWrongKeys(t *testing.T) {
	ctx := testContext(t)
	wrongSecret := client(t, "wrong/", func(c *Config) { c.Credentials.SecretAccessKey = "not-the-secret" })
	_, err := wrongSecret.Put(ctx, "x", strings.NewReader("x"), -1)
	wantError(t, err, ErrCredentials, `cannot store object "wrong/x"`, "secret access key does not match", "secretAccessKey in the credentials Secret")
	_, err = wrongSecret.List(ctx, "")
	wantError(t, err, ErrCredentials, `cannot list objects under "wrong/"`, "secretAccessKey")
	wantError(t, wrongSecret.Check(ctx), ErrCredentials, "secretAccessKey")

	unknownKey := client(t, "wrong/", func(c *Config) { c.Credentials.AccessKeyID = "AKIAUNKNOWN" })
	_, err = unknownKey.Put(ctx, "x", strings.NewReader("x"), -1)
	wantError(t, err, ErrCredentials, "does not know the access key ID", "accessKeyID in the credentials Secret")
	_, _, err = unknownKey.Get(ctx, "x")
	wantError(t, err, ErrCredentials)
	if strings.Contains(err.Error(), store.SecretAccessKey) {
		t.Errorf("the error shows a secret: %v", err)
	}
}

func TestMissingBucket(t *testing.T) {
	ctx := testContext(t)
	for _, region := range []string{s3test.Region, ""} {
		t.Run("region "+region, func(t *testing.T) {
			c := client(t, "p/", func(c *Config) { c.Bucket = "no-such-bucket"; c.Region = region })
			const says = `the bucket "no-such-bucket" does not exist`
			_, err := c.Put(ctx, "x", strings.NewReader("x"), -1)
			wantError(t, err, ErrNoSuchBucket, `cannot store object "p/x" in bucket "no-such-bucket"`, says)
			_, err = c.Put(ctx, "x", strings.NewReader("x"), 1)
			wantError(t, err, ErrNoSuchBucket, says)
			_, err = c.Stat(ctx, "x")
			wantError(t, err, ErrNoSuchBucket, says)
			_, _, err = c.Get(ctx, "x")
			wantError(t, err, ErrNoSuchBucket, says)
			_, err = c.List(ctx, "")
			wantError(t, err, ErrNoSuchBucket, says)
			wantError(t, c.Check(ctx), ErrNoSuchBucket, `cannot use bucket "no-such-bucket"`, says)
		})
	}
	if err := client(t, "p/").Check(ctx); err != nil {
		t.Errorf("Check of the existing bucket: %v", err)
	}
}

func TestUnreachableEndpoint(t *testing.T) {
	ctx := testContext(t)
	// A port nothing listens on: taken, then freed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close()
	c := client(t, "p/", func(c *Config) { c.Endpoint = endpoint })
	start := time.Now()
	_, err = c.Put(ctx, "x", strings.NewReader("x"), -1)
	wantError(t, err, ErrUnreachable, `cannot store object "p/x" in bucket "`+store.Bucket+`" at `+endpoint, "the endpoint is unreachable", "connection refused")
	wantError(t, c.Check(ctx), ErrUnreachable, "connection refused")
	_, err = c.List(ctx, "")
	wantError(t, err, ErrUnreachable, "connection refused")
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("giving up on a refused connection took %s", d)
	}

	// A host name that cannot resolve (.invalid never does).
	c = client(t, "p/", func(c *Config) { c.Endpoint = "http://haredis-store.invalid:9000"; c.MaxRetries = 1 })
	wantError(t, c.Check(ctx), ErrUnreachable, "host name does not resolve", "haredis-store.invalid")

	// TLS to a plain HTTP port.
	c = client(t, "p/", func(c *Config) {
		c.Endpoint = strings.Replace(store.Endpoint, "http://", "https://", 1)
		c.MaxRetries = 1
	})
	wantError(t, c.Check(ctx), ErrUnreachable, "does not speak TLS")
}

// Encryption reaches the store: the object is stored encrypted (its bytes
// are nowhere in the store's files, while those of a plain object are), the
// store reports it, and it reads back unchanged.
func TestServerSideEncryption(t *testing.T) {
	ctx := testContext(t)
	plain := client(t, "sse/")
	sealed := client(t, "sse/", func(c *Config) { c.Encryption = Encryption{Mode: EncryptionAES256} })
	// Random bytes around the markers, so that the store has nothing to
	// compress.
	plainBody := marked("haredis-plain-marker")
	sealedBody := marked("haredis-sealed-marker")
	if _, err := plain.Put(ctx, "plain", bytes.NewReader(plainBody), -1); err != nil {
		t.Fatal(err)
	}
	res, err := sealed.Put(ctx, "sealed", bytes.NewReader(sealedBody), -1)
	if err != nil {
		t.Fatal(err)
	}
	// A multipart upload is encrypted as well.
	if _, err := sealed.Put(ctx, "sealed-large", io.LimitReader(rand.NewChaCha8([32]byte{9}), 20<<20), -1); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"plain": "", "sealed": EncryptionAES256, "sealed-large": EncryptionAES256} {
		info, err := plain.Stat(ctx, key)
		if err != nil || info.Encryption != want {
			t.Errorf("%s: encryption %q (%v), want %q", key, info.Encryption, err, want)
		}
	}
	r, _, err := plain.Get(ctx, "sealed")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	sum := sha256.Sum256(got)
	if err != nil || !bytes.Equal(got, sealedBody) || hex.EncodeToString(sum[:]) != res.SHA256 {
		t.Errorf("the encrypted object reads back as %d bytes (%v), want %d", len(got), err, len(sealedBody))
	}

	var plainSeen, sealedSeen bool
	err = filepath.WalkDir(store.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		plainSeen = plainSeen || bytes.Contains(b, []byte("haredis-plain-marker"))
		sealedSeen = sealedSeen || bytes.Contains(b, []byte("haredis-sealed-marker"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !plainSeen {
		t.Error("the plain object is not in the store's files: the check below proves nothing")
	}
	if sealedSeen {
		t.Error("the object stored with encryption is in the store's files in clear")
	}
}

// marked is 64 KiB of random bytes with marker between each KiB.
func marked(marker string) []byte {
	src := rand.NewChaCha8([32]byte{7})
	var b []byte
	for range 64 {
		chunk := make([]byte, 1024)
		_, _ = src.Read(chunk)
		b = append(append(b, chunk...), marker...)
	}
	return b
}

// A web identity (as IRSA sets it up) is exchanged with STS for keys,
// with the token read from its file. SeaweedFS has no AWS-style STS for a
// Kubernetes token, so a stand-in answers for STS and hands out the test
// store's keys; the store itself is real.
func TestWebIdentity(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("eyJhbGciOiJSUzI1NiJ9.test-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const role = "arn:aws:iam::123456789012:role/haredis-backup"
	var calls atomic.Int32
	refuse := atomic.Bool{}
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.Form.Get("Action") != "AssumeRoleWithWebIdentity" || r.Form.Get("RoleArn") != role ||
			r.Form.Get("WebIdentityToken") != "eyJhbGciOiJSUzI1NiJ9.test-token" {
			t.Errorf("STS got %v", r.Form)
		}
		if refuse.Load() {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>`+
				`<Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error></ErrorResponse>`)
			return
		}
		fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`+
			`<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>`+
			`<SessionToken>session-token</SessionToken><Expiration>%s</Expiration></Credentials></AssumeRoleWithWebIdentityResult>`+
			`</AssumeRoleWithWebIdentityResponse>`, store.AccessKeyID, store.SecretAccessKey, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	defer sts.Close()

	creds, err := CredentialsFromSecret(map[string][]byte{}, env(map[string]string{
		"AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
		"AWS_ROLE_ARN":                role,
		"AWS_ENDPOINT_URL_STS":        sts.URL,
	}))
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, "irsa/", func(c *Config) { c.Credentials = creds })
	if _, err := c.Put(ctx, "x", strings.NewReader("x"), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("STS was asked %d times, want once (the keys are kept until they expire)", n)
	}

	refuse.Store(true)
	c = client(t, "irsa/", func(c *Config) { c.Credentials = creds })
	_, err = c.Put(ctx, "y", strings.NewReader("y"), -1)
	wantError(t, err, ErrCredentials, "STS refused the web identity for role "+role, "Not authorized")

	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	c = client(t, "irsa/", func(c *Config) { c.Credentials = creds })
	wantError(t, c.Check(ctx), ErrCredentials, "no web identity token: cannot read the token file", tokenFile)
}

// A presigned URL reads the object with a plain GET, without credentials,
// and only that object.
func TestPresignGet(t *testing.T) {
	ctx := testContext(t)
	c := client(t, "signed/")
	body := []byte("an RDB file, say")
	if _, err := c.Put(ctx, "dump.rdb", bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	u, err := c.PresignGet(ctx, "dump.rdb", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Errorf("GET of the signed URL: %d %q", resp.StatusCode, got)
	}
	other := strings.Replace(u, "dump.rdb", "other.rdb", 1)
	resp, err = http.Get(other)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("the signature of one object reads another")
	}
}
