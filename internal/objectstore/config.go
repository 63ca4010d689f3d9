package objectstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path"
	"strings"

	v1 "github.com/haredis/haredis/api/v1"
)

// Config says which store, bucket and prefix a Client uses, and how it
// signs in.
type Config struct {
	// Endpoint is the store's URL: http:// or https://, host and optional
	// port, no path.
	Endpoint string
	Bucket   string
	// Prefix is put before every key; empty or ending in "/".
	Prefix string
	// Region of the bucket; empty lets the client ask the store.
	Region      string
	Credentials Credentials
	Encryption  Encryption
	// PartSize is the size of the parts of an upload, and so the memory
	// an upload holds; zero means DefaultPartSize. An object of unknown
	// size may have at most 10,000 parts (156 GiB at the default).
	PartSize int64
	// MaxRetries of one request on a network error or a 5xx answer; zero
	// means 3.
	MaxRetries int
	// Log receives debug records of what the client does; nil discards
	// them.
	Log *slog.Logger
}

const (
	// DefaultPartSize holds an upload's memory to 16 MiB.
	DefaultPartSize = 16 << 20
	// MinPartSize is the smallest part S3 accepts (but for the last one).
	MinPartSize = 5 << 20
)

// Credentials sign the requests: static keys, or a web identity token
// exchanged with STS for temporary keys. Printing them (%v, %+v, %#v, slog)
// never shows the secret key.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	// WebIdentity is used when the keys are empty.
	WebIdentity *WebIdentity
}

// WebIdentity is the standard AWS web identity configuration (the variables
// an EKS pod with an IAM role for its service account receives).
type WebIdentity struct {
	// TokenFile holds the token (AWS_WEB_IDENTITY_TOKEN_FILE); it is read
	// again at each renewal.
	TokenFile string
	// RoleARN to assume (AWS_ROLE_ARN).
	RoleARN string
	// STSEndpoint (AWS_ENDPOINT_URL_STS); empty means the regional AWS
	// endpoint of AWS_REGION, else of the bucket's region, else the global
	// one.
	STSEndpoint string
}

// Kind names the credentials for logs and messages: "static keys" or "web
// identity".
func (c Credentials) Kind() string {
	if c.AccessKeyID == "" && c.WebIdentity != nil {
		return "web identity"
	}
	return "static keys"
}

// String shows the access key ID and hides the secret.
func (c Credentials) String() string {
	if c.AccessKeyID == "" && c.WebIdentity != nil {
		return fmt.Sprintf("web identity (role %s, token file %s)", c.WebIdentity.RoleARN, c.WebIdentity.TokenFile)
	}
	return fmt.Sprintf("static keys (access key ID %s, secret access key %s)", c.AccessKeyID, redacted(c.SecretAccessKey))
}

// GoString is String, so that %#v hides the secret too.
func (c Credentials) GoString() string { return c.String() }

// LogValue keeps the secret out of structured logs.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON keeps the secret out of JSON (a logger that marshals a
// Config, say).
func (c Credentials) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// LogValue is the Config without its secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.Endpoint), slog.String("bucket", c.Bucket), slog.String("prefix", c.Prefix),
		slog.String("region", c.Region), slog.Any("credentials", c.Credentials), slog.String("encryption", c.Encryption.Mode),
	)
}

func redacted(s string) string {
	if s == "" {
		return "(empty)"
	}
	return "(redacted)"
}

// CredentialsFromSecret reads the keys accessKeyID and secretAccessKey of a
// Secret's data (surrounding white space dropped, as `echo` leaves a line
// break). A Secret with neither key means the web identity of getenv's
// AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (getenv nil: os.Getenv).
func CredentialsFromSecret(data map[string][]byte, getenv func(string) string) (Credentials, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	id := strings.TrimSpace(string(data[v1.CredentialsAccessKeyID]))
	secret := strings.TrimSpace(string(data[v1.CredentialsSecretAccessKey]))
	switch {
	case id != "" && secret != "":
		return Credentials{AccessKeyID: id, SecretAccessKey: secret}, nil
	case id != "":
		return Credentials{}, fmt.Errorf("the credentials Secret has %s but no %s", v1.CredentialsAccessKeyID, v1.CredentialsSecretAccessKey)
	case secret != "":
		return Credentials{}, fmt.Errorf("the credentials Secret has %s but no %s", v1.CredentialsSecretAccessKey, v1.CredentialsAccessKeyID)
	}
	w := &WebIdentity{
		TokenFile:   getenv("AWS_WEB_IDENTITY_TOKEN_FILE"),
		RoleARN:     getenv("AWS_ROLE_ARN"),
		STSEndpoint: getenv("AWS_ENDPOINT_URL_STS"),
	}
	switch {
	case w.TokenFile == "" && w.RoleARN == "":
		return Credentials{}, fmt.Errorf("no credentials: the credentials Secret has neither %s nor %s, and AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not set for a web identity",
			v1.CredentialsAccessKeyID, v1.CredentialsSecretAccessKey)
	case w.TokenFile == "":
		return Credentials{}, errors.New("no credentials: AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not")
	case w.RoleARN == "":
		return Credentials{}, errors.New("no credentials: AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")
	}
	if region := getenv("AWS_REGION"); region != "" && w.STSEndpoint == "" {
		w.STSEndpoint = stsEndpoint(region)
	}
	return Credentials{WebIdentity: w}, nil
}

// stsEndpoint is AWS's regional STS endpoint, or the global one.
func stsEndpoint(region string) string {
	switch {
	case region == "":
		return "https://sts.amazonaws.com"
	case strings.HasPrefix(region, "cn-"):
		return "https://sts." + region + ".amazonaws.com.cn"
	}
	return "https://sts." + region + ".amazonaws.com"
}

// FailoverPrefix is where the objects of one RedisFailover live: the
// ObjectStore's prefix, then the namespace and the name, so that
// RedisFailovers sharing a bucket never share a key.
func FailoverPrefix(storePrefix, namespace, name string) string {
	return path.Join(strings.Trim(storePrefix, "/"), namespace, name) + "/"
}

// FromSpec is the Config of a RedisFailover's ObjectStore, with the data of
// its credentials Secret (see CredentialsFromSecret; nil when the store
// names no Secret: the web identity of the environment).
func FromSpec(store v1.ObjectStore, namespace, name string, secretData map[string][]byte) (Config, error) {
	creds, err := CredentialsFromSecret(secretData, nil)
	if err != nil {
		if store.CredentialsSecret == nil {
			return Config{}, fmt.Errorf("cannot find credentials for the object store (no credentialsSecret): %w", err)
		}
		return Config{}, fmt.Errorf("cannot read the credentials of the object store (Secret %s): %w", store.CredentialsSecret.Name, err)
	}
	cfg := Config{
		Endpoint:    store.Endpoint,
		Bucket:      store.Bucket,
		Prefix:      FailoverPrefix(store.Prefix, namespace, name),
		Region:      store.Region,
		Credentials: creds,
	}
	if e := store.Encryption; e != nil {
		cfg.Encryption = Encryption{Mode: e.Mode, KMSKeyID: e.KMSKeyID}
	}
	return cfg, nil
}

// endpoint splits the endpoint URL into minio-go's host[:port] and TLS flag.
func (c Config) endpoint() (host string, secure bool, err error) {
	if !strings.HasPrefix(c.Endpoint, "http://") && !strings.HasPrefix(c.Endpoint, "https://") {
		return "", false, fmt.Errorf("invalid endpoint %q: the scheme must be http or https, as in https://s3.eu-west-1.amazonaws.com", c.Endpoint)
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return "", false, fmt.Errorf("invalid endpoint %q: %w", c.Endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", false, fmt.Errorf("invalid endpoint %q: the scheme must be http or https", c.Endpoint)
	}
	if u.Host == "" {
		return "", false, fmt.Errorf("invalid endpoint %q: no host", c.Endpoint)
	}
	if u.User != nil {
		return "", false, fmt.Errorf("invalid endpoint %q: keys belong in the credentials Secret, not in the URL", u.Redacted())
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", false, fmt.Errorf("invalid endpoint %q: give the scheme, host and port alone (the bucket and prefix have fields of their own)", c.Endpoint)
	}
	return u.Host, u.Scheme == "https", nil
}

// MaxParts is how many parts an upload of unknown size may have.
const MaxParts = 10000

// PartSizeFor is the part size of an upload of unknown size expected to be
// about expected bytes: the smallest whole MiB, at least MinPartSize, with
// which MaxParts parts hold twice that. Memory follows the part size, so a
// small data set uploads with small parts.
func PartSizeFor(expected int64) int64 {
	const mib = 1 << 20
	need := (2*expected + MaxParts - 1) / MaxParts
	need = (need + mib - 1) / mib * mib
	return max(need, MinPartSize)
}
