package objectstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	v1 "github.com/haredis/haredis/api/v1"
)

// Kinds of failure, for errors.Is on the errors a Client returns.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("no such object")
	// ErrNoSuchBucket: the bucket does not exist.
	ErrNoSuchBucket = errors.New("no such bucket")
	// ErrCredentials: the store does not accept the keys (unknown access
	// key ID, wrong secret, expired or refused temporary credentials).
	ErrCredentials = errors.New("credentials refused")
	// ErrAccessDenied: the keys are valid but may not do this.
	ErrAccessDenied = errors.New("access denied")
	// ErrUnreachable: no answer from the store (name, connection, TLS).
	ErrUnreachable = errors.New("store unreachable")
)

// Error is what every operation of a Client returns: what was done, on
// which object, and why it failed, in words for a status condition.
type Error struct {
	// Op is what was done: "store", "read", "stat", "list", "delete" or
	// "check".
	Op string
	// Key is the object's key in the bucket, prefix included (the prefix
	// listed, for "list"; empty for "check").
	Key      string
	Bucket   string
	Endpoint string
	// Kind is one of ErrNotFound, ErrNoSuchBucket, ErrCredentials,
	// ErrAccessDenied and ErrUnreachable, or nil.
	Kind error
	// Reason says why, for humans.
	Reason string
	// Err is the client library's error.
	Err error
}

func (e *Error) Error() string {
	var what string
	switch e.Op {
	case "store":
		what = fmt.Sprintf("store object %q in", e.Key)
	case "read":
		what = fmt.Sprintf("read object %q from", e.Key)
	case "stat":
		what = fmt.Sprintf("look up object %q in", e.Key)
	case "delete":
		what = fmt.Sprintf("delete object %q from", e.Key)
	case "list":
		what = fmt.Sprintf("list objects under %q in", e.Key)
	default:
		what = "use"
	}
	return fmt.Sprintf("cannot %s bucket %q at %s: %s", what, e.Bucket, e.Endpoint, e.Reason)
}

// Unwrap gives the kind and the library's error to errors.Is and As.
func (e *Error) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// fail wraps err, the library's answer to op on key, into an *Error.
func (c *Client) fail(op, key string, err error) error {
	reason, kind := c.classify(op, err)
	return &Error{Op: op, Key: key, Bucket: c.bucket, Endpoint: c.endpoint, Kind: kind, Reason: reason, Err: err}
}

// classify maps the store's and the network's answers to a kind and a
// sentence; the store's own words end the sentence when they add to it.
func (c *Client) classify(op string, err error) (reason string, kind error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "gave up: " + err.Error(), nil
	}
	if errors.Is(err, errToken) {
		return err.Error(), ErrCredentials
	}
	var sts credentials.ErrorResponse
	if errors.As(err, &sts) {
		role := ""
		if w := c.creds.WebIdentity; w != nil {
			role = w.RoleARN
		}
		return fmt.Sprintf("STS refused the web identity for role %s: %s: %s", role, sts.STSError.Code, sts.STSError.Message), ErrCredentials
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && resp.Code != "" {
		return c.classifyResponse(op, resp)
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return fmt.Sprintf("the endpoint's host name does not resolve: %v", dns), ErrUnreachable
	}
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &badHost), errors.As(err, &invalid):
		return fmt.Sprintf("the endpoint's TLS certificate is not trusted: %v", err), ErrUnreachable
	case errors.As(err, &record), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "the endpoint does not speak TLS: use http:// or the TLS port", ErrUnreachable
	}
	var op2 *net.OpError
	if errors.As(err, &op2) {
		return fmt.Sprintf("the endpoint is unreachable: %v", op2), ErrUnreachable
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return fmt.Sprintf("the endpoint does not answer: %v", uerr.Err), ErrUnreachable
	}
	return err.Error(), nil
}

func (c *Client) classifyResponse(op string, resp minio.ErrorResponse) (reason string, kind error) {
	secretHint := ""
	if c.creds.WebIdentity == nil || c.creds.AccessKeyID != "" {
		secretHint = " in the credentials Secret"
	}
	switch resp.Code {
	case minio.NoSuchBucket:
		return fmt.Sprintf("the bucket %q does not exist", c.bucket), ErrNoSuchBucket
	case minio.NoSuchKey, "NotFound":
		return "the object does not exist", ErrNotFound
	case minio.InvalidAccessKeyID:
		if secretHint == "" {
			return "the store does not know the access key ID STS gave for the web identity", ErrCredentials
		}
		return fmt.Sprintf("the store does not know the access key ID (check %s%s)", v1.CredentialsAccessKeyID, secretHint), ErrCredentials
	case minio.SignatureDoesNotMatch:
		if secretHint == "" {
			return "the store refused the request's signature", ErrCredentials
		}
		return fmt.Sprintf("the store refused the request's signature: the secret access key does not match the access key ID (check %s%s)", v1.CredentialsSecretAccessKey, secretHint), ErrCredentials
	case "ExpiredToken", "InvalidToken", "InvalidClientTokenId", "TokenRefreshRequired":
		return fmt.Sprintf("the store refused the session token (%s: %s)", resp.Code, resp.Message), ErrCredentials
	case minio.AccessDenied, minio.AllAccessDisabled:
		return fmt.Sprintf("access denied: the credentials may not %s here (%s)", opVerb(op), resp.Message), ErrAccessDenied
	case minio.RequestTimeTooSkewed:
		return "the clocks of this host and of the store differ too much (more than 15 minutes): set the time right", nil
	case minio.InvalidRegion, minio.AuthorizationHeaderMalformed:
		if resp.Region != "" {
			return fmt.Sprintf("the bucket is in region %q, not in the region requests are signed for: set the object store's region to %q", resp.Region, resp.Region), nil
		}
		return fmt.Sprintf("wrong region: set the object store's region (%s: %s)", resp.Code, resp.Message), nil
	}
	if resp.StatusCode >= 500 {
		return fmt.Sprintf("the store failed (HTTP %d, %s: %s)", resp.StatusCode, resp.Code, resp.Message), nil
	}
	return fmt.Sprintf("the store refused: %s: %s", resp.Code, resp.Message), nil
}

func opVerb(op string) string {
	switch op {
	case "store":
		return "write objects"
	case "read", "stat":
		return "read objects"
	case "list":
		return "list objects"
	case "delete":
		return "delete objects"
	}
	return "use the bucket"
}
