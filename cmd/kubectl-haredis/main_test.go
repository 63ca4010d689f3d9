package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/haredis/haredis/internal/version"
)

// Every verb that takes a RedisFailover completes its name, and every verb
// whose output is data prints it with -o json|yaml.
func TestCommandTree(t *testing.T) {
	root := newRoot()
	data := map[string]bool{"generate": true, "url": true, "sentinel-url": true, "status": true, "import": true, "convert": true}
	for _, cmd := range root.Commands() {
		name := cmd.Name()
		if name == "help" || name == "completion" || name == "version" {
			continue
		}
		if cmd.ValidArgsFunction == nil {
			t.Errorf("%s has no completion of its arguments", name)
		}
		if data[name] && cmd.Flags().Lookup("output") == nil {
			t.Errorf("%s has no -o", name)
		}
	}
	for _, f := range []string{"kubeconfig", "context", "namespace", "cluster", "user", "as", "token", "server"} {
		if root.PersistentFlags().Lookup(f) == nil {
			t.Errorf("kubectl's flag --%s is missing", f)
		}
	}
}

// generate needs no cluster: the manifest comes from the flags alone.
func TestGenerateWithoutACluster(t *testing.T) {
	out, err := execute(t, "generate", "app", "--replicas", "5", "--set-parameter", "notify-keyspace-events=gxE", "--kubeconfig", "/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: RedisFailover", "replicas: 5", "notify-keyspace-events: gxE"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "namespace:") {
		t.Errorf("a namespace without -n:\n%s", out)
	}
	if out, _ := execute(t, "generate", "app", "-n", "shop"); !strings.Contains(out, "namespace: shop") {
		t.Errorf("no namespace with -n:\n%s", out)
	}
}

func TestFlagErrors(t *testing.T) {
	for args, want := range map[string]string{
		"url app --show-password --from-secret": "none of the others can be",
		"status app -o table":                   `unknown output format "table"`,
		"status app --color sometimes":          `--color "sometimes"`,
		"sentinel-url app --format hiredis":     `unknown format "hiredis"`,
		"generate app --helm /tmp -o json":      "leave out -o",
	} {
		_, err := execute(t, strings.Fields(args)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
}

func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// version prints the version linked into the binary, and needs no cluster.
func TestVersion(t *testing.T) {
	old := version.Version
	version.Version = "v1.2.3-4-gabcdef0"
	defer func() { version.Version = old }()
	out, err := execute(t, "version", "--kubeconfig", "/nonexistent")
	if err != nil || out != "v1.2.3-4-gabcdef0\n" {
		t.Errorf("version printed %q (%v)", out, err)
	}
}
