package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/plugin"
	"github.com/haredis/haredis/internal/version"
)

// kube holds kubectl's standard flags (--kubeconfig, --context, -n, ...).
type kube struct {
	flags *genericclioptions.ConfigFlags
}

func bindKube(cmd *cobra.Command) *kube {
	k := &kube{flags: genericclioptions.NewConfigFlags(true)}
	k.flags.AddFlags(cmd.PersistentFlags())
	return k
}

// config is the REST configuration of the kubeconfig flags.
func (k *kube) config() (*rest.Config, error) {
	cfg, err := k.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("cannot load the kubeconfig: %w", err)
	}
	cfg.UserAgent = "kubectl-haredis/" + version.Version
	return cfg, nil
}

// client returns a client of the cluster and the namespace to use.
func (k *kube) client() (client.Client, string, error) {
	cfg, err := k.config()
	if err != nil {
		return nil, "", err
	}
	ns, err := k.namespace()
	if err != nil {
		return nil, "", err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	if err := haredisv1.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("cannot create a client of %s: %w", cfg.Host, err)
	}
	return c, ns, nil
}

// clients is client() with the REST configuration and a client-go
// clientset beside it, for the verbs that stream (logs, exec).
func (k *kube) clients() (client.Client, *rest.Config, kubernetes.Interface, string, error) {
	c, ns, err := k.client()
	if err != nil {
		return nil, nil, nil, "", err
	}
	cfg, err := k.config()
	if err != nil {
		return nil, nil, nil, "", err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("cannot create a client of %s: %w", cfg.Host, err)
	}
	return c, cfg, cs, ns, nil
}

// namespace is -n, else the context's namespace, else default.
func (k *kube) namespace() (string, error) {
	ns, _, err := k.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("cannot read the namespace of the context: %w", err)
	}
	return ns, nil
}

// kubectlFlags are the flags a printed kubectl command repeats so that it
// reads the same cluster as this one did.
func (k *kube) kubectlFlags() []string {
	var out []string
	add := func(name string, v *string) {
		if v != nil && *v != "" {
			out = append(out, "--"+name+"="+*v)
		}
	}
	add("kubeconfig", k.flags.KubeConfig)
	add("context", k.flags.Context)
	return out
}

// completeRF completes the first argument with the RedisFailovers of the
// namespace.
func (k *kube) completeRF(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, ns, err := k.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return plugin.CompleteRF(context.Background(), c, ns, prefix), cobra.ShellCompDirectiveNoFileComp
}

// completeRFInstance completes a RedisFailover, then one of its instances
// (only its replicas when replicasOnly).
func (k *kube) completeRFInstance(replicasOnly bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) != 1 {
			return k.completeRF(cmd, args, prefix)
		}
		c, ns, err := k.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return plugin.CompleteInstance(context.Background(), c, ns, args[0], prefix, replicasOnly), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNamespace completes -n.
func (k *kube) completeNamespace(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
	c, _, err := k.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return plugin.CompleteNamespace(context.Background(), c, prefix), cobra.ShellCompDirectiveNoFileComp
}

func streams(cmd *cobra.Command) genericiooptions.IOStreams {
	return genericiooptions.IOStreams{In: cmd.InOrStdin(), Out: cmd.OutOrStdout(), ErrOut: cmd.ErrOrStderr()}
}

// addOutput adds -o json|yaml.
func addOutput(cmd *cobra.Command, o *string) {
	cmd.Flags().StringVarP(o, "output", "o", "", "print data as json or yaml instead of text")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{plugin.OutputJSON, plugin.OutputYAML}, cobra.ShellCompDirectiveNoFileComp))
}

// colorful decides whether to paint: always, never, or auto (a terminal,
// NO_COLOR unset, TERM not dumb).
func colorful(mode string, cmd *cobra.Command) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto", "":
		f, ok := cmd.OutOrStdout().(*os.File)
		return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb", nil
	}
	return false, fmt.Errorf("--color %q: auto, always or never", mode)
}
