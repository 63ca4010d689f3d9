package objectstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"
)

// Encryption asks the store to encrypt what Put stores (server-side
// encryption with keys the store or its KMS manages); reading needs nothing.
type Encryption struct {
	// Mode is "" (the bucket's default), EncryptionAES256 or
	// EncryptionKMS.
	Mode string
	// KMSKeyID is the KMS key of EncryptionKMS; empty means the store's
	// default key.
	KMSKeyID string
}

// Values of Encryption.Mode: those of the x-amz-server-side-encryption
// header.
const (
	EncryptionAES256 = "AES256"
	EncryptionKMS    = "aws:kms"
)

func (e Encryption) serverSide() (encrypt.ServerSide, error) {
	switch e.Mode {
	case "":
		if e.KMSKeyID != "" {
			return nil, fmt.Errorf("a KMS key ID is given without the encryption mode %q", EncryptionKMS)
		}
		return nil, nil
	case EncryptionAES256:
		if e.KMSKeyID != "" {
			return nil, fmt.Errorf("a KMS key ID is given with the encryption mode %q; use %q", EncryptionAES256, EncryptionKMS)
		}
		return encrypt.NewSSE(), nil
	case EncryptionKMS:
		sse, err := encrypt.NewSSEKMS(e.KMSKeyID, nil)
		if err != nil {
			return nil, fmt.Errorf("invalid KMS encryption: %w", err)
		}
		return sse, nil
	}
	return nil, fmt.Errorf("unknown encryption mode %q: use %q or %q", e.Mode, EncryptionAES256, EncryptionKMS)
}

// Client reads and writes the objects under one prefix of one bucket.
// It is safe for concurrent use.
type Client struct {
	mc       *minio.Client
	endpoint string
	bucket   string
	prefix   string
	creds    Credentials
	sse      encrypt.ServerSide
	partSize int64
	log      *slog.Logger
}

// Object describes a stored object.
type Object struct {
	// Key is relative to the client's prefix.
	Key          string
	Size         int64
	LastModified time.Time
	ETag         string
	// Encryption is the server-side encryption the store reports, if any.
	Encryption string
}

// PutResult describes what Put stored.
type PutResult struct {
	// Key is relative to the client's prefix.
	Key  string
	Size int64
	// SHA256 is the hex SHA-256 of the bytes sent, computed while they
	// were sent. A multipart upload's ETag is no digest of the object; keep
	// this one to check the object when it is read back.
	SHA256 string
	ETag   string
}

// New returns a client for cfg. It checks the settings but does not talk to
// the store; Check does.
func New(cfg Config) (*Client, error) {
	host, secure, err := cfg.endpoint()
	if err != nil {
		return nil, err
	}
	if cfg.Bucket == "" {
		return nil, errors.New("no bucket given")
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("the prefix %q must end in /", cfg.Prefix)
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("part size %d is below the minimum of S3, %d", cfg.PartSize, MinPartSize)
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	sse, err := cfg.Encryption.serverSide()
	if err != nil {
		return nil, err
	}
	creds, err := cfg.minioCredentials()
	if err != nil {
		return nil, err
	}
	transport, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("cannot make the HTTP transport: %w", err)
	}
	// Fail fast on a host that drops packets; give a busy store time to
	// answer a large part.
	transport.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	transport.ResponseHeaderTimeout = 2 * time.Minute
	mc, err := minio.New(host, &minio.Options{
		Creds:      creds,
		Secure:     secure,
		Region:     cfg.Region,
		Transport:  transport,
		MaxRetries: cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot make a client of %s: %w", cfg.Endpoint, err)
	}
	c := &Client{
		mc:       mc,
		endpoint: cfg.Endpoint,
		bucket:   cfg.Bucket,
		prefix:   cfg.Prefix,
		creds:    cfg.Credentials,
		sse:      sse,
		partSize: cfg.PartSize,
		log:      cfg.Log.With("endpoint", cfg.Endpoint, "bucket", cfg.Bucket, "prefix", cfg.Prefix),
	}
	c.log.Debug("object store client", "credentials", cfg.Credentials, "encryption", cfg.Encryption.Mode, "partSize", cfg.PartSize)
	return c, nil
}

func (cfg Config) minioCredentials() (*credentials.Credentials, error) {
	cr := cfg.Credentials
	if cr.AccessKeyID != "" || cr.SecretAccessKey != "" {
		if cr.AccessKeyID == "" || cr.SecretAccessKey == "" {
			return nil, errors.New("static credentials need both an access key ID and a secret access key")
		}
		return credentials.NewStaticV4(cr.AccessKeyID, cr.SecretAccessKey, ""), nil
	}
	w := cr.WebIdentity
	if w == nil {
		return nil, errors.New("no credentials: neither static keys nor a web identity")
	}
	if w.TokenFile == "" || w.RoleARN == "" {
		return nil, errors.New("a web identity needs a token file and a role ARN")
	}
	sts := w.STSEndpoint
	if sts == "" {
		sts = stsEndpoint(cfg.Region)
	}
	return credentials.NewSTSWebIdentity(sts, func() (*credentials.WebIdentityToken, error) {
		token, err := readToken(w.TokenFile)
		if err != nil {
			return nil, err
		}
		return &credentials.WebIdentityToken{Token: token}, nil
	}, func(s *credentials.STSWebIdentity) {
		s.RoleARN = w.RoleARN
		s.Client = &http.Client{Timeout: 30 * time.Second}
	})
}

// Prefix is the prefix of every key the client touches.
func (c *Client) Prefix() string { return c.prefix }

// Bucket is the client's bucket.
func (c *Client) Bucket() string { return c.bucket }

// Check makes sure the store answers, accepts the credentials, has the
// bucket and lets them list the client's prefix.
func (c *Client) Check(ctx context.Context) error {
	if err := c.probe(ctx); err != nil {
		return c.fail("check", "", err)
	}
	return nil
}

// probe lists at most one key under the prefix: a GET, whose error answer
// has a body that says what is wrong, where a HEAD's says only its status.
func (c *Client) probe(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The first answer says it all; cancel stops the listing.
	info := <-c.mc.ListObjects(ctx, c.bucket, minio.ListObjectsOptions{Prefix: c.prefix, MaxKeys: 1})
	return info.Err
}

// explainHead makes the library's reading of a HEAD answer precise: a
// HEAD's error answer has no body, so every 404 reads as a missing object
// and every 403 as denied access, where the bucket may be what is missing
// or the keys what is wrong. probe asks again with a GET.
func (c *Client) explainHead(ctx context.Context, err error) error {
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey, minio.AccessDenied:
	default:
		return err
	}
	perr := c.probe(ctx)
	switch minio.ToErrorResponse(perr).Code {
	case minio.NoSuchBucket, minio.InvalidAccessKeyID, minio.SignatureDoesNotMatch, "ExpiredToken", "InvalidToken", "InvalidClientTokenId":
		return perr
	}
	return err
}

// Put stores what r yields under key. size is the number of bytes r yields,
// or -1 when unknown: the object is sent in parts of PartSize, one at a
// time, so memory stays bounded whatever its size. The returned SHA-256 is
// that of the bytes sent. A failed upload leaves no object (its parts are
// aborted) and no earlier object of the same key is replaced.
func (c *Client) Put(ctx context.Context, key string, r io.Reader, size int64) (PutResult, error) {
	full, err := c.fullKey(key)
	if err != nil {
		return PutResult{}, &Error{Op: "store", Key: c.prefix + key, Bucket: c.bucket, Endpoint: c.endpoint, Reason: err.Error(), Err: err}
	}
	start := time.Now()
	hr := &hashingReader{r: r, h: sha256.New()}
	opts := minio.PutObjectOptions{
		ContentType:          "application/octet-stream",
		ServerSideEncryption: c.sse,
		PartSize:             uint64(c.partSize),
	}
	if size >= 0 && size > c.partSize*10000 {
		// Larger than 10,000 parts: let the library size the parts.
		opts.PartSize = 0
	}
	info, err := c.mc.PutObject(ctx, c.bucket, full, hr, size, opts)
	if err != nil {
		// The source failed or fell short, not the store.
		switch {
		case hr.err != nil:
			err = fmt.Errorf("cannot read the data to store: %w", hr.err)
		case hr.eof && size >= 0 && hr.n < size:
			err = fmt.Errorf("the data to store ended after %d of the %d bytes announced: %w", hr.n, size, io.ErrUnexpectedEOF)
		default:
			return PutResult{}, c.fail("store", full, err)
		}
		return PutResult{}, &Error{Op: "store", Key: full, Bucket: c.bucket, Endpoint: c.endpoint, Reason: err.Error(), Err: err}
	}
	if (size >= 0 && hr.n != size) || info.Size != hr.n {
		err := fmt.Errorf("sent %d bytes of the %d announced, the store kept %d", hr.n, size, info.Size)
		return PutResult{}, &Error{Op: "store", Key: full, Bucket: c.bucket, Endpoint: c.endpoint, Reason: err.Error(), Err: err}
	}
	res := PutResult{Key: key, Size: hr.n, SHA256: hex.EncodeToString(hr.h.Sum(nil)), ETag: info.ETag}
	c.log.Debug("stored object", "key", full, "size", res.Size, "sha256", res.SHA256, "duration", time.Since(start))
	return res, nil
}

// hashingReader hashes and counts what it reads, and keeps the source's
// error apart from the store's.
type hashingReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	err error
	eof bool
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	switch {
	case err == io.EOF:
		h.eof = true
	case err != nil:
		h.err = err
	}
	return n, err
}

// Get opens key for reading; the caller closes the reader. Errors of the
// store (a missing object, say) are returned here, not at the first Read.
func (c *Client) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	full, err := c.fullKey(key)
	if err != nil {
		return nil, Object{}, &Error{Op: "read", Key: c.prefix + key, Bucket: c.bucket, Endpoint: c.endpoint, Reason: err.Error(), Err: err}
	}
	obj, err := c.mc.GetObject(ctx, c.bucket, full, minio.GetObjectOptions{})
	if err != nil {
		return nil, Object{}, c.fail("read", full, err)
	}
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, Object{}, c.fail("read", full, c.explainHead(ctx, err))
	}
	return &objectReader{obj: obj, c: c, key: full}, c.object(info), nil
}

// objectReader names the object in a failed Read.
type objectReader struct {
	obj *minio.Object
	c   *Client
	key string
}

func (r *objectReader) Read(p []byte) (int, error) {
	n, err := r.obj.Read(p)
	if err != nil && err != io.EOF {
		err = r.c.fail("read", r.key, err)
	}
	return n, err
}

func (r *objectReader) Close() error { return r.obj.Close() }

// Stat describes key; a missing object gives an error matching ErrNotFound
// (or ErrNoSuchBucket when the bucket is what is missing).
func (c *Client) Stat(ctx context.Context, key string) (Object, error) {
	full, err := c.fullKey(key)
	if err != nil {
		return Object{}, &Error{Op: "stat", Key: c.prefix + key, Bucket: c.bucket, Endpoint: c.endpoint, Reason: err.Error(), Err: err}
	}
	info, err := c.mc.StatObject(ctx, c.bucket, full, minio.StatObjectOptions{})
	if err != nil {
		return Object{}, c.fail("stat", full, c.explainHead(ctx, err))
	}
	return c.object(info), nil
}

// List returns the objects whose keys start with prefix (relative to the
// client's prefix; empty lists them all), in key order.
func (c *Client) List(ctx context.Context, prefix string) ([]Object, error) {
	full := c.prefix + prefix
	var out []Object
	for info := range c.mc.ListObjects(ctx, c.bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true}) {
		if info.Err != nil {
			return nil, c.fail("list", full, info.Err)
		}
		out = append(out, c.object(info))
	}
	return out, nil
}

// Delete removes key; deleting a missing object is no error, as in S3.
func (c *Client) Delete(ctx context.Context, key string) error {
	full, err := c.fullKey(key)
	if err != nil {
		return &Error{Op: "delete", Key: c.prefix + key, Bucket: c.bucket, Endpoint: c.endpoint, Reason: err.Error(), Err: err}
	}
	if err := c.mc.RemoveObject(ctx, c.bucket, full, minio.RemoveObjectOptions{}); err != nil {
		return c.fail("delete", full, err)
	}
	c.log.Debug("deleted object", "key", full)
	return nil
}

func (c *Client) object(info minio.ObjectInfo) Object {
	return Object{
		Key:          strings.TrimPrefix(info.Key, c.prefix),
		Size:         info.Size,
		LastModified: info.LastModified,
		ETag:         info.ETag,
		Encryption:   info.Metadata.Get("X-Amz-Server-Side-Encryption"),
	}
}

// fullKey checks a key relative to the prefix and returns the bucket's key.
func (c *Client) fullKey(key string) (string, error) {
	switch {
	case key == "":
		return "", errors.New("empty key")
	case strings.HasPrefix(key, "/"), strings.HasSuffix(key, "/"):
		return "", fmt.Errorf("invalid key %q: it must not start or end with /", key)
	case !utf8.ValidString(key):
		return "", fmt.Errorf("invalid key %q: not UTF-8", key)
	case len(c.prefix)+len(key) > 1024:
		return "", fmt.Errorf("invalid key %q: longer than 1024 bytes with the prefix", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("invalid key %q: empty, . and .. path elements are not allowed", key)
		}
	}
	return c.prefix + key, nil
}

// errToken marks a web identity token that cannot be read.
var errToken = errors.New("no web identity token")

// readToken reads a web identity token file, again at each renewal (the
// kubelet rotates it).
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: cannot read the token file: %w", errToken, err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("%w: the token file %s is empty", errToken, path)
	}
	return token, nil
}

// PresignGet returns a URL that reads key with a plain HTTP GET, signed
// with the client's credentials, valid for expiry (at most 7 days). Anyone
// holding the URL reads the object until then: keep it as a secret.
func (c *Client) PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error) {
	full, err := c.fullKey(key)
	if err != nil {
		return "", &Error{Op: "sign a read of", Key: c.prefix + key, Bucket: c.bucket, Endpoint: c.endpoint, Reason: err.Error(), Err: err}
	}
	u, err := c.mc.PresignedGetObject(ctx, c.bucket, full, expiry, nil)
	if err != nil {
		return "", c.fail("sign a read of", full, err)
	}
	return u.String(), nil
}
