package plugin

import (
	"encoding/json"
	"fmt"
	"github.com/haredis/haredis/internal/specs"
	"io"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// Output formats of -o.
const (
	OutputJSON = "json"
	OutputYAML = "yaml"
)

// CheckOutput refuses an -o the plugin does not print.
func CheckOutput(o string) error {
	switch o {
	case "", OutputJSON, OutputYAML:
		return nil
	}
	return fmt.Errorf("unknown output format %q: use -o json or -o yaml (or nothing, for text)", o)
}

// PrintData writes v as JSON (indented) or YAML.
func PrintData(w io.Writer, format string, v any) error {
	switch format {
	case OutputJSON:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("cannot encode JSON: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case OutputYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("cannot encode YAML: %w", err)
		}
		_, err = w.Write(b)
		return err
	}
	return CheckOutput(format)
}

// warnNoPrimary tells on the error stream when rf has no primary that
// takes writes, so that a URL printed meanwhile is not mistaken for a
// working one.
// warnTLS tells, with spec.tls, what the printed client set-up lacks: the
// CA, and the server name of the pod IPs the sentinels give.
func warnTLS(io genericiooptions.IOStreams, rf *haredisv1.RedisFailover) {
	if rf.TLSEnabled() && io.ErrOut != nil {
		fmt.Fprintf(io.ErrOut, "note: %s speaks TLS: give the client the CA of Secret %s (key %s) and, since the sentinels give pod IPs, the TLS server name %s (docs/security.md, TLS)\n",
			rf.Name, rf.ConnectionSecretName(), specs.ConnCA, specs.ServiceHost(rf, rf.PrimaryServiceName()))
	}
}

func warnNoPrimary(io genericiooptions.IOStreams, rf *haredisv1.RedisFailover) {
	if err := NoPrimary(rf); err != nil && io.ErrOut != nil {
		fmt.Fprintf(io.ErrOut, "warning: %v\n", err)
	}
}
