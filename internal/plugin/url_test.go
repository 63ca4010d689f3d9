package plugin

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

func TestURLGolden(t *testing.T) {
	cases := map[string]struct {
		rf   func() *haredisv1.RedisFailover
		opts URLOptions
	}{
		"hidden":      {readyRF, URLOptions{}},
		"password":    {readyRF, URLOptions{ShowPassword: true}},
		"from-secret": {readyRF, URLOptions{FromSecret: true, Kubectl: []string{"--context=prod eu"}}},
		"noauth":      {noAuthRF, URLOptions{}},
		"json":        {readyRF, URLOptions{Output: OutputJSON}},
		"yaml":        {readyRF, URLOptions{Output: OutputYAML, ShowPassword: true}},
		"waiting":     {waitingRF, URLOptions{}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := fakeClient(t, cluster(tc.rf())...)
			out, errOut, err := run(t, func(io genericiooptions.IOStreams) error { return URL(ctx, c, io, "shop", "app", tc.opts) })
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "url/"+name+".txt", out+"--- stderr\n"+errOut)
			if strings.Contains(out+errOut, testPassword) != tc.opts.ShowPassword {
				t.Errorf("password shown: %s", out)
			}
		})
	}
}

func TestURLJSONParses(t *testing.T) {
	c := fakeClient(t, cluster(readyRF())...)
	out, _, err := run(t, func(io genericiooptions.IOStreams) error {
		return URL(ctx, c, io, "shop", "app", URLOptions{Output: OutputJSON, ShowPassword: true})
	})
	if err != nil {
		t.Fatal(err)
	}
	var res URLResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.URL != "redis://default:"+testPassword+"@app.shop.svc.cluster.local:6379" || !res.PasswordShown {
		t.Errorf("parsed %+v", res)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"kubectl": "kubectl", "--context=a b": "'--context=a b'", "it's": `'it'\''s'`, "jsonpath={.data.X}": "'jsonpath={.data.X}'", "": "''"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
