package rdbimport

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/certs/certstest"
	"github.com/haredis/haredis/internal/redistest"
)

// TestImportOverTLS: the import reaches a primary that speaks TLS, as a
// RedisFailover with spec.tls has, with the CA alone; without TLS it is
// refused.
func TestImportOverTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ds := redistest.Dataset{Prefix: "imptls", N: 20}
	src, file := dumpOf(t, ds)
	d := certstest.New(t)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	target, err := redistest.StartServer(redistest.ServerConfig{Password: "target-pw", Extra: []string{
		"tls-port " + strconv.Itoa(port),
		"tls-cert-file " + filepath.Join(d.Path, certs.CertKey),
		"tls-key-file " + filepath.Join(d.Path, certs.KeyKey),
		"tls-ca-cert-file " + filepath.Join(d.Path, certs.CAKey),
		"tls-auth-clients no",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(target.Close)
	tlsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	if _, err := Import(ctx, bytes.NewReader(file), Options{Target: tlsAddr, Password: "target-pw"}); err == nil {
		t.Fatal("an import without TLS to the TLS port succeeded")
	}
	// Only the CA is mounted in the import's pod.
	caOnly := certs.NewFiles(t.TempDir())
	if err := os.WriteFile(caOnly.Path(certs.CAKey), d.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Import(ctx, bytes.NewReader(file), Options{Target: tlsAddr, Password: "target-pw", TLS: caOnly.ClientConfig()})
	if err != nil {
		t.Fatalf("import over TLS: %v (%+v)", err, rep)
	}
	if rep.Imported == 0 || rep.Refused != 0 {
		t.Fatalf("report %+v, want every key imported", rep)
	}
	sc, tc := src.Client(), target.Client()
	defer sc.Close()
	defer tc.Close()
	if err := ds.Compare(ctx, sc, tc); err != nil {
		t.Fatalf("the target after the import: %v", err)
	}
}
