package instanceapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client talks to one instance manager.
type Client struct {
	// BaseURL is http://HOST:PORT.
	BaseURL string
	// Token is the manager credential (the RedisFailover's manager Secret).
	Token string
	// HTTP does the requests; DefaultHTTP when nil.
	HTTP *http.Client
}

// DefaultHTTP bounds every request: a manager that does not answer within
// two seconds is treated as not answering.
var DefaultHTTP = &http.Client{Timeout: 2 * time.Second}

// Error is an answer other than 2xx: its status code and body.
type Error struct {
	Method, Path string
	Code         int
	Body         ErrorBody
}

func (e *Error) Error() string {
	msg := e.Body.Error
	if msg == "" {
		msg = http.StatusText(e.Code)
	}
	return fmt.Sprintf("%s %s: %d: %s", e.Method, e.Path, e.Code, msg)
}

// StatusCode returns the HTTP status of an *Error in err's chain, 0 when
// the manager did not answer.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// Status is GET /status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.do(ctx, http.MethodGet, "/status", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Config is GET /config.
func (c *Client) Config(ctx context.Context) (*GroupState, error) {
	var g GroupState
	if err := c.do(ctx, http.MethodGet, "/config", nil, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// PutConfig is PUT /config. Redis's refusal is an *Error with code 422 and
// Body.RedisError set; a malformed group 400; an older generation 409.
func (c *Client) PutConfig(ctx context.Context, req PutConfigRequest) (*ApplyResult, error) {
	var res ApplyResult
	if err := c.do(ctx, http.MethodPut, "/config", req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Force is PUT /force: primary is the instance a human chose.
func (c *Client) Force(ctx context.Context, primary string) error {
	return c.do(ctx, http.MethodPut, "/force", ForceRequest{Primary: primary}, nil)
}

// PutSeed is PUT /seed: the URL of the file a new RedisFailover's initial
// primary loads.
func (c *Client) PutSeed(ctx context.Context, url string) error {
	return c.do(ctx, http.MethodPut, "/seed", SeedRequest{URL: url}, nil)
}

// A cutover holds the source's writes (CLIENT PAUSE WRITE, renewed every
// third of CutoverHold) from its start until the operator releases them
// (POST /cutover/release, once every proxy sends to the new primary), or
// for CutoverMaxHold at most; it gives up when the server has not caught
// up within CutoverCatchUp. CutoverTimeout bounds POST /cutover.
const (
	CutoverHold    = 10 * time.Second
	CutoverMaxHold = time.Minute
	CutoverCatchUp = 8 * time.Second
	CutoverTimeout = CutoverCatchUp + 7*time.Second
)

// Cutover is POST /cutover: the importing instance holds the source's
// writes, waits until it has all of them, and becomes a primary. An error
// leaves it a replica of the source.
func (c *Client) Cutover(ctx context.Context) (*CutoverResult, error) {
	ctx, cancel := context.WithTimeout(ctx, CutoverTimeout)
	defer cancel()
	cl := *c
	cl.HTTP = &http.Client{Timeout: CutoverTimeout}
	if c.HTTP != nil {
		h := *c.HTTP
		h.Timeout = CutoverTimeout
		cl.HTTP = &h
	}
	var res CutoverResult
	if err := cl.do(ctx, http.MethodPost, "/cutover", nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// ReleaseCutover is POST /cutover/release: the source's writes are no
// longer held (idempotent).
func (c *Client) ReleaseCutover(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/cutover/release", nil, nil)
}

// Metrics is GET /metrics (Prometheus text).
func (c *Client) Metrics(ctx context.Context) (string, error) {
	var b bytes.Buffer
	if err := c.do(ctx, http.MethodGet, "/metrics", nil, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("cannot encode the %s %s request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return fmt.Errorf("cannot build %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = DefaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot %s %s%s: %w", method, c.BaseURL, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("cannot read the answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Method: method, Path: path, Code: resp.StatusCode}
		_ = json.Unmarshal(b, &e.Body)
		return e
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *bytes.Buffer:
		o.Write(b)
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("cannot decode the answer to %s %s: %w", method, path, err)
	}
	return nil
}
