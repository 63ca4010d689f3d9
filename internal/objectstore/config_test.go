package objectstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	v1 "github.com/haredis/haredis/api/v1"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestCredentialsFromSecret(t *testing.T) {
	creds, err := CredentialsFromSecret(map[string][]byte{
		v1.CredentialsAccessKeyID:     []byte("AKIDEXAMPLE\n"),
		v1.CredentialsSecretAccessKey: []byte(" s3cr3t\n"),
	}, env(map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": "/token", "AWS_ROLE_ARN": "arn:role"}))
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "AKIDEXAMPLE" || creds.SecretAccessKey != "s3cr3t" || creds.WebIdentity != nil {
		t.Errorf("static keys (the web identity ignored when keys are given): got %s", creds)
	}

	for _, tc := range []struct {
		name string
		data map[string][]byte
		env  map[string]string
		want string
	}{
		{"access key alone", map[string][]byte{v1.CredentialsAccessKeyID: []byte("id")}, nil, "has accessKeyID but no secretAccessKey"},
		{"secret alone", map[string][]byte{v1.CredentialsSecretAccessKey: []byte("s")}, nil, "has secretAccessKey but no accessKeyID"},
		{"blank keys, no web identity", map[string][]byte{v1.CredentialsAccessKeyID: []byte("\n")}, nil,
			"the credentials Secret has neither accessKeyID nor secretAccessKey, and AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not set"},
		{"token without role", nil, map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": "/t"}, "AWS_ROLE_ARN is not"},
		{"role without token", nil, map[string]string{"AWS_ROLE_ARN": "arn"}, "AWS_WEB_IDENTITY_TOKEN_FILE is not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CredentialsFromSecret(tc.data, env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}

	creds, err = CredentialsFromSecret(map[string][]byte{}, env(map[string]string{
		"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
		"AWS_ROLE_ARN":                "arn:aws:iam::123456789012:role/haredis-backup",
		"AWS_REGION":                  "eu-west-1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	w := creds.WebIdentity
	if w == nil || w.RoleARN != "arn:aws:iam::123456789012:role/haredis-backup" || w.STSEndpoint != "https://sts.eu-west-1.amazonaws.com" {
		t.Errorf("web identity from the IRSA variables: got %s %+v", creds.Kind(), w)
	}
	creds, err = CredentialsFromSecret(nil, env(map[string]string{
		"AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn", "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL_STS": "http://sts.local",
	}))
	if err != nil || creds.WebIdentity.STSEndpoint != "http://sts.local" {
		t.Errorf("AWS_ENDPOINT_URL_STS wins over the region: got %+v, %v", creds.WebIdentity, err)
	}
}

// The secret access key appears in no printed form of a Config.
func TestSecretNeverPrinted(t *testing.T) {
	const secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
	cfg := Config{Endpoint: "http://127.0.0.1:1", Bucket: "b", Credentials: Credentials{AccessKeyID: "AKID", SecretAccessKey: secret}}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.Info("config", "credentials", cfg.Credentials, "config", cfg, "raw", struct{ C Config }{cfg})
	cfg.Log = log
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(cfg.Credentials),
		logs.String(), string(js),
	} {
		if strings.Contains(s, secret) {
			t.Errorf("the secret is printed: %s", s)
		}
		if !strings.Contains(s, "AKID") {
			t.Errorf("the access key ID is not printed: %s", s)
		}
	}
}

func TestFromSpecPrefixesPerFailover(t *testing.T) {
	secret := map[string][]byte{v1.CredentialsAccessKeyID: []byte("id"), v1.CredentialsSecretAccessKey: []byte("s")}
	for _, tc := range []struct{ prefix, want string }{
		{"", "prod/app/"},
		{"backups", "backups/prod/app/"},
		{"/backups/redis/", "backups/redis/prod/app/"},
	} {
		cfg, err := FromSpec(v1.ObjectStore{
			Endpoint: "https://s3.eu-west-1.amazonaws.com", Bucket: "bucket", Prefix: tc.prefix, Region: "eu-west-1",
			CredentialsSecret: &v1.LocalObjectReference{Name: "s3"},
		}, "prod", "app", secret)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Prefix != tc.want || cfg.Bucket != "bucket" || cfg.Region != "eu-west-1" || cfg.Credentials.AccessKeyID != "id" {
			t.Errorf("prefix %q: got %+v, want prefix %q", tc.prefix, cfg, tc.want)
		}
		if _, err := New(cfg); err != nil {
			t.Errorf("prefix %q: %v", tc.prefix, err)
		}
	}
	_, err := FromSpec(v1.ObjectStore{CredentialsSecret: &v1.LocalObjectReference{Name: "s3"}}, "prod", "app",
		map[string][]byte{v1.CredentialsAccessKeyID: []byte("id")})
	if err == nil || !strings.Contains(err.Error(), "Secret s3") {
		t.Errorf("a bad Secret is named: %v", err)
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	ok := Config{Endpoint: "http://127.0.0.1:9000", Bucket: "b", Credentials: Credentials{AccessKeyID: "id", SecretAccessKey: "s"}}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no scheme", func(c *Config) { c.Endpoint = "127.0.0.1:9000" }, "scheme must be http or https"},
		{"path", func(c *Config) { c.Endpoint = "https://s3.example.com/bucket" }, "scheme, host and port alone"},
		{"keys in the URL", func(c *Config) { c.Endpoint = "https://id:topsecret@s3.example.com" }, "keys belong in the credentials Secret"},
		{"no bucket", func(c *Config) { c.Bucket = "" }, "no bucket"},
		{"prefix without slash", func(c *Config) { c.Prefix = "a/b" }, "must end in /"},
		{"small parts", func(c *Config) { c.PartSize = 1 << 20 }, "below the minimum"},
		{"encryption mode", func(c *Config) { c.Encryption.Mode = "aes" }, `unknown encryption mode "aes"`},
		{"KMS key without KMS", func(c *Config) { c.Encryption = Encryption{Mode: EncryptionAES256, KMSKeyID: "k"} }, "KMS key ID"},
		{"half keys", func(c *Config) { c.Credentials.SecretAccessKey = "" }, "need both"},
		{"no credentials", func(c *Config) { c.Credentials = Credentials{} }, "no credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.change(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Errorf("the error shows the password of the URL: %v", err)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	c, err := New(Config{Endpoint: "http://127.0.0.1:9000", Bucket: "b", Prefix: "ns/app/", Credentials: Credentials{AccessKeyID: "id", SecretAccessKey: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := c.fullKey("2026/dump.rdb"); err != nil || k != "ns/app/2026/dump.rdb" {
		t.Errorf("got %q, %v", k, err)
	}
	for _, k := range []string{"", "/a", "a/", "a//b", "a/../b", "./a", "\xff", strings.Repeat("k", 1020)} {
		if _, err := c.fullKey(k); err == nil {
			t.Errorf("key %q accepted", k)
		}
	}
}

func TestPartSizeFor(t *testing.T) {
	for _, tc := range []struct{ expected, want int64 }{
		{0, MinPartSize},
		{1 << 30, MinPartSize},
		{20 << 30, MinPartSize},
		{25 << 30, 6 << 20},
		{100 << 30, 21 << 20},
	} {
		got := PartSizeFor(tc.expected)
		if got != tc.want {
			t.Errorf("PartSizeFor(%d) = %d, want %d", tc.expected, got, tc.want)
		}
		if got*MaxParts < 2*tc.expected {
			t.Errorf("PartSizeFor(%d) = %d parts cannot hold twice the size", tc.expected, got)
		}
	}
}
