package redisconf

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOwnedParametersMatchCRD reads the CEL rules that refuse parameters in
// spec.redis.config and checks they name exactly OwnedParameters, so that
// the schema and the instance manager never disagree.
func TestOwnedParametersMatchCRD(t *testing.T) {
	src, err := os.ReadFile("../../api/v1/redisfailover_types.go")
	if err != nil {
		t.Fatal(err)
	}
	rule := regexp.MustCompile(`self\.all\(k, !\(k\.lowerAscii\(\) in \[([^\]]*)\]\)\)`)
	matches := rule.FindAllSubmatch(src, -1)
	if len(matches) == 0 {
		t.Fatal("found no CEL rule refusing parameters in api/v1/redisfailover_types.go")
	}
	inCRD := map[string]bool{}
	for _, m := range matches {
		for _, item := range strings.Split(string(m[1]), ",") {
			inCRD[strings.Trim(strings.TrimSpace(item), "'")] = true
		}
	}
	var crd []string
	for k := range inCRD {
		crd = append(crd, k)
	}
	sort.Strings(crd)
	ours := append([]string(nil), OwnedParameters...)
	sort.Strings(ours)
	if diff := cmp.Diff(crd, ours); diff != "" {
		t.Errorf("OwnedParameters and the CEL rules differ (-CRD +OwnedParameters):\n%s", diff)
	}

	// Each owned parameter also has a rule of its own whose message names it.
	for _, p := range OwnedParameters {
		if !strings.Contains(string(src), "rule=\"!('"+p+"' in self)\"") {
			t.Errorf("api/v1/redisfailover_types.go has no rule of its own refusing %q", p)
		}
	}

	generated, err := os.ReadFile("../../config/crd/bases/haredis.dev_redisfailovers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range OwnedParameters {
		if !strings.Contains(string(generated), "'"+p+"'") {
			t.Errorf("the generated CRD does not refuse %q; run make generate", p)
		}
	}
}
