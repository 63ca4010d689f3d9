package plugin

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/haredis/haredis/internal/specs"
)

// URLOptions choose what `url` prints.
type URLOptions struct {
	// ShowPassword prints the password (read from the connection Secret)
	// instead of Hidden.
	ShowPassword bool
	// FromSecret prints a shell line that reads REDIS_URL from the
	// connection Secret when it runs, so that the password appears neither
	// on the command line nor in the shell's history.
	FromSecret bool
	// Output is "" (text), "json" or "yaml".
	Output string
	// Kubectl are the flags the printed kubectl command repeats
	// (--context, --kubeconfig), so that it reads the same cluster.
	Kubectl []string
}

// URLResult is the data `url -o json|yaml` prints.
type URLResult struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// URL is REDIS_URL, with the password Hidden unless it was asked for.
	URL           string `json:"url"`
	PasswordShown bool   `json:"passwordShown"`
	// Secret and Key hold the full URL.
	Secret string `json:"secret"`
	Key    string `json:"key"`
	// Command is the shell line of --from-secret.
	Command string `json:"command,omitempty"`
}

// URL prints REDIS_URL of RedisFailover ns/name: the Service NAME, which
// reaches the primary through the proxies (or directly without them).
func URL(ctx context.Context, c client.Reader, io genericiooptions.IOStreams, ns, name string, opts URLOptions) error {
	rf, err := GetRF(ctx, c, ns, name)
	if err != nil {
		return err
	}
	conn, err := connectionOf(rf)
	if err != nil {
		return err
	}
	res := URLResult{Name: name, Namespace: ns, URL: conn.RedisURL, Secret: conn.Secret, Key: specs.ConnURL, PasswordShown: !conn.Auth}
	switch {
	case opts.FromSecret:
		res.Command = fromSecretCommand(specs.ConnURL, conn.Secret, ns, opts.Kubectl)
		if conn.Auth {
			res.URL = maskedURL(conn.RedisURL)
		}
	case opts.ShowPassword && conn.Auth:
		data, err := readSecret(ctx, c, conn)
		if err != nil {
			return err
		}
		if res.URL = string(data[specs.ConnURL]); res.URL == "" {
			return fmt.Errorf("the connection Secret %s has no %s key; the operator writes it (kubectl describe rf %s)", conn.Secret, specs.ConnURL, name)
		}
		res.PasswordShown = true
	case conn.Auth:
		res.URL = maskedURL(conn.RedisURL)
	}
	warnNoPrimary(io, rf)
	if opts.Output != "" {
		return PrintData(io.Out, opts.Output, res)
	}
	if opts.FromSecret {
		fmt.Fprintln(io.Out, res.Command)
		return nil
	}
	fmt.Fprintln(io.Out, res.URL)
	if conn.Auth && !res.PasswordShown {
		fmt.Fprintf(io.ErrOut, "the password is hidden: --show-password prints it, --from-secret prints a shell line that reads it from Secret %s\n", conn.Secret)
	}
	return nil
}

// fromSecretCommand is a shell line that exports key of Secret secret as
// an environment variable of the same name, read at run time.
func fromSecretCommand(key, secret, ns string, kubectlFlags []string) string {
	args := append([]string{"kubectl"}, kubectlFlags...)
	args = append(args, "get", "secret", secret, "--namespace", ns, "--output", "jsonpath={.data."+key+"}")
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return fmt.Sprintf(`export %s="$(%s | base64 --decode)"`, key, strings.Join(args, " "))
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
