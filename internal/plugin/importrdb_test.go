package plugin

import (
	"bytes"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/rdbimport"
	"github.com/haredis/haredis/internal/specs"
)

func TestPrintImport(t *testing.T) {
	cases := map[string]*rdbimport.Report{
		"import-clean.txt": {Format: 11, Writer: "redis 7.2.4", Bytes: 48211990, Keys: 120345, Imported: 120345, Databases: []int{0}, Seconds: 9.83},
		"import-mixed.txt": {Format: 11, Writer: "valkey 8.0.1", Bytes: 1024, Keys: 30, Imported: 24, Skipped: 2, Expired: 1, Refused: 3,
			Refusals:  []rdbimport.Refusal{{DB: 0, Key: "big", Error: "OOM command not allowed when used memory > 'maxmemory'."}, {DB: 2, Key: "other", Error: "ERR Bad data format"}},
			Databases: []int{0, 2}, Seconds: 0.4},
	}
	for name, r := range cases {
		var b bytes.Buffer
		PrintImport(&b, "app", r)
		golden(t, name, b.String())
	}
}

// TestImportSpeaksTLS: with spec.tls the import pod mounts the CA alone
// and `haredis import rdb` speaks TLS to the primary.
func TestImportSpeaksTLS(t *testing.T) {
	rf := readyRF()
	rf.Spec.TLS = &haredisv1.TLSSpec{Enabled: true}
	// The instance pod as the operator builds it.
	primary := specs.InstancePod(rf, "app-1", haredisv1.RolePrimary, specs.Options{OperatorImage: "haredis/haredis:dev"})
	p, err := importPod(rf, primary)
	if err != nil {
		t.Fatal(err)
	}
	var ca *corev1.Volume
	for i := range p.Spec.Volumes {
		if s := p.Spec.Volumes[i].Secret; s != nil && s.SecretName == rf.TLSSecretName() {
			ca = &p.Spec.Volumes[i]
		}
	}
	if ca == nil || len(ca.Secret.Items) != 1 || ca.Secret.Items[0].Key != certs.CAKey {
		t.Fatalf("the import pod mounts %+v, want the CA alone of %s", ca, rf.TLSSecretName())
	}
	argv := importCommand(rf, rf.Namespace, false)
	if i := slices.Index(argv, "--tls-dir"); i < 0 || argv[i+1] != certs.MountDir {
		t.Fatalf("command %q does not speak TLS with the mounted CA", argv)
	}
	if slices.Contains(importCommand(readyRF(), "shop", false), "--tls-dir") {
		t.Fatal("a RedisFailover without TLS gets --tls-dir")
	}
}
