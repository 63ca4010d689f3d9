// Package proxyapi is the contract of the proxy's admin endpoint (port
// 9090): the body of GET /status and the one typed client the operator,
// the tests and the benchmarks use for it. Standard library only.
package proxyapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// TokenKey is the key of the proxies' admin token in the Secret the
// operator keeps for a RedisFailover (NAME-internal), and the name of the
// file where proxy pods mount it.
const TokenKey = "proxy-admin-token"

// Status is the JSON body of GET /status.
type Status struct {
	// Primary is host:port of the primary commands go to, "" for none.
	Primary string `json:"primary"`
	// Ready is true while the proxy has a confirmed primary.
	Ready bool `json:"ready"`
	// Paused is true while a switchover holds the commands.
	Paused bool `json:"paused"`
}

// Client talks to one proxy's admin endpoint.
type Client struct {
	// BaseURL is http://HOST:PORT.
	BaseURL string
	// Token is the bearer token the proxy requires for /pause and /resume
	// (its admin token; "" for a proxy that requires none).
	Token string
	// Fallback, when set, is sent instead when the proxy refuses Token
	// (401): a proxy started by an earlier haredis takes the Redis
	// password.
	Fallback string
	// HTTP does the requests; each call also has its own deadline.
	HTTP *http.Client
}

func (c Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Pause asks the proxy to hold new commands at command boundaries for at
// most wait; it answers once the replies in flight are in.
func (c Client) Pause(ctx context.Context, wait time.Duration) error {
	return c.post(ctx, "/pause?wait="+wait.String(), wait+time.Second)
}

// Resume releases the held commands, to primary (host:port) when given,
// else to whatever the proxy's own Sentinel watcher knows.
func (c Client) Resume(ctx context.Context, primary string) error {
	path := "/resume"
	if primary != "" {
		path += "?primary=" + url.QueryEscape(primary)
	}
	return c.post(ctx, path, 3*time.Second)
}

// Status is GET /status, within a second.
func (c Client) Status(ctx context.Context) (Status, error) {
	var s Status
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	u := c.BaseURL + "/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return s, fmt.Errorf("cannot build request GET %s: %w", u, err)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return s, fmt.Errorf("cannot GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&s); err != nil {
		return s, fmt.Errorf("cannot decode the answer of GET %s: %w", u, err)
	}
	return s, nil
}

func (c Client) post(ctx context.Context, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	status, err := c.postWith(ctx, path, c.Token)
	if status == http.StatusUnauthorized && c.Fallback != "" {
		_, err = c.postWith(ctx, path, c.Fallback)
	}
	return err
}

// postWith sends POST path with token as the bearer token and returns the
// answer's status code (0 when there is none).
func (c Client) postWith(ctx context.Context, path, token string) (int, error) {
	u := c.BaseURL + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return 0, fmt.Errorf("cannot build request POST %s: %w", u, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("POST %s: status %d: %s", u, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}
