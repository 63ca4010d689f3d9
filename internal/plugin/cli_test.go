package plugin

import (
	"context"
	"slices"
	"strings"
	"testing"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// TestPlanCLISpeaksTLS: with spec.tls, redis-cli gets --tls and the CA the
// pod mounts, to the primary and through the proxies; without it, neither.
func TestPlanCLISpeaksTLS(t *testing.T) {
	plain := readyRF()
	tlsRF := readyRF()
	tlsRF.Spec.TLS = &haredisv1.TLSSpec{Enabled: true}
	for name, tc := range map[string]struct {
		rf    *haredisv1.RedisFailover
		proxy bool
		want  bool
	}{
		"plaintext":                 {plain, false, false},
		"TLS to the primary":        {tlsRF, false, true},
		"TLS through the proxies":   {tlsRF, true, true},
		"plaintext through proxies": {plain, true, false},
	} {
		t.Run(name, func(t *testing.T) {
			c := fakeClient(t, cluster(tc.rf)...)
			target, err := PlanCLI(context.Background(), c, tc.rf.Namespace, tc.rf.Name, CLIOptions{Proxy: tc.proxy})
			if err != nil {
				t.Fatal(err)
			}
			i := slices.Index(target.Command, "--tls")
			if got := i >= 0; got != tc.want {
				t.Fatalf("command %q: --tls %v, want %v", target.Command, got, tc.want)
			}
			if tc.want && (i+2 >= len(target.Command) || target.Command[i+1] != "--cacert" || !strings.HasSuffix(target.Command[i+2], "/ca.crt")) {
				t.Fatalf("command %q lacks --cacert and the mounted CA", target.Command)
			}
		})
	}
}
