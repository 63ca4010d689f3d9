package plugin

import (
	"encoding/json"
	"fmt"
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
func warnNoPrimary(io genericiooptions.IOStreams, rf *haredisv1.RedisFailover) {
	if err := NoPrimary(rf); err != nil && io.ErrOut != nil {
		fmt.Fprintf(io.ErrOut, "warning: %v\n", err)
	}
}
