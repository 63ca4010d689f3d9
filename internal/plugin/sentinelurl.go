package plugin

import (
	"context"
	"fmt"
	"io"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/haredis/haredis/internal/specs"
)

// SentinelURLOptions choose what `sentinel-url` prints.
type SentinelURLOptions struct {
	// Format names the client library (see Formats).
	Format string
	// ShowPassword writes the password itself (read from the connection
	// Secret). Otherwise code reads it from the environment variable
	// REDIS_PASSWORD, which the connection Secret provides, and strings
	// show Hidden.
	ShowPassword bool
	// Output is "" (the format's text), "json" or "yaml".
	Output string
}

// SentinelURLResult is the data `sentinel-url -o json|yaml` prints.
type SentinelURLResult struct {
	Connection `json:",inline"`
	Format     string `json:"format"`
	// PasswordShown tells whether Text holds the password itself.
	PasswordShown bool `json:"passwordShown"`
	// PasswordKey is the key of the connection Secret (and the
	// environment variable) that holds the password.
	PasswordKey string `json:"passwordKey,omitempty"`
	Text        string `json:"text"`
	// Env holds the variables of the env format.
	Env map[string]string `json:"env,omitempty"`
}

// SentinelURL prints how a Sentinel-aware client library connects to
// RedisFailover ns/name: the master name, the sentinels and, in the right
// place for that library, the password (the sentinels require the same
// password as the instances).
func SentinelURL(ctx context.Context, c client.Reader, io genericiooptions.IOStreams, ns, name string, opts SentinelURLOptions) error {
	format, err := LookupFormat(opts.Format)
	if err != nil {
		return err
	}
	rf, err := GetRF(ctx, c, ns, name)
	if err != nil {
		return err
	}
	conn, err := connectionOf(rf)
	if err != nil {
		return err
	}
	f := &facts{conn: conn}
	if opts.ShowPassword && conn.Auth {
		data, err := readSecret(ctx, c, conn)
		if err != nil {
			return err
		}
		if conn.Password = string(data[specs.ConnPassword]); conn.Password == "" {
			return fmt.Errorf("the connection Secret %s has no %s key; see the condition PasswordSecretInSync (kubectl describe rf %s)", conn.Secret, specs.ConnPassword, conn.Name)
		}
		f.show, f.secret = true, data
	}
	warnNoPrimary(io, rf)
	warnTLS(io, rf)
	res := SentinelURLResult{Connection: *conn, Format: format.Name, PasswordShown: f.show || !conn.Auth, Text: format.render(f)}
	if conn.Auth {
		res.PasswordKey = specs.ConnPassword
	}
	if format.Name == "env" {
		vars := envVars(f)
		if f.secret != nil {
			vars = secretVars(f.secret)
		}
		res.Env = map[string]string{}
		for _, kv := range vars {
			res.Env[kv[0]] = kv[1]
		}
	}
	if opts.Output != "" {
		return PrintData(io.Out, opts.Output, res)
	}
	_, err = io.Out.Write([]byte(res.Text))
	if err == nil && conn.Auth && !f.show {
		hint(io.ErrOut, format.Name, conn.Secret)
	}
	return err
}

func hint(w io.Writer, format, secret string) {
	if w == nil {
		return
	}
	switch format {
	case "go-redis", "stackexchange", "env":
		fmt.Fprintf(w, "the password is hidden: --show-password prints it (it is key %s of Secret %s)\n", specs.ConnPassword, secret)
	default:
		fmt.Fprintf(w, "the code reads the password from the environment variable %s (key %s of Secret %s, e.g. envFrom: [{secretRef: {name: %s}}]); --show-password writes it in\n", specs.ConnPassword, specs.ConnPassword, secret, secret)
	}
}
