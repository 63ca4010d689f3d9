package proxyapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestClientSpeaksTheAdminContract checks the requests the client sends
// (paths, queries, the bearer token) and how it reads the answers, against
// a handler that follows the documented contract (docs/proxy.md); the
// proxy's admin tests check the server's side, and the end-to-end
// switchover tests both together.
func TestClientSpeaksTheAdminContract(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/status":
			_ = json.NewEncoder(w).Encode(Status{Primary: "10.0.0.1:6379", Ready: true})
		case r.Header.Get("Authorization") != "Bearer pw":
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c := Client{BaseURL: srv.URL, Token: "pw"}
	if err := c.Pause(ctx, 1500*time.Millisecond); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if err := c.Resume(ctx, "10.0.0.2:6379"); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	s, err := c.Status(ctx)
	if err != nil || s.Primary != "10.0.0.1:6379" || !s.Ready || s.Paused {
		t.Fatalf("Status = %+v, %v", s, err)
	}
	want := []string{"POST /pause?wait=1.5s Bearer pw", "POST /resume?primary=10.0.0.2%3A6379 Bearer pw", "GET /status "}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	err = Client{BaseURL: srv.URL, Token: "wrong"}.Resume(ctx, "")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("Resume with a wrong token = %v; want the 401 in the error", err)
	}
	// A proxy that refuses the token gets the fallback, once.
	got = nil
	if err := (Client{BaseURL: srv.URL, Token: "new", Fallback: "pw"}).Resume(ctx, ""); err != nil {
		t.Errorf("Resume with a refused token and the right fallback: %v", err)
	}
	err = Client{BaseURL: srv.URL, Token: "new", Fallback: "wrong"}.Resume(ctx, "")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("Resume with a refused token and a refused fallback = %v; want the 401 in the error", err)
	}
	want = []string{"POST /resume Bearer new", "POST /resume Bearer pw", "POST /resume Bearer new", "POST /resume Bearer wrong"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
