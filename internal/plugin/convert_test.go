package plugin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// Every testdata/convert/NAME.input.yaml, a file of Spotahome manifests, has
// goldens NAME.yaml (what convert prints) and NAME.report.txt (its report
// on the error stream); each converted RedisFailover reads back strictly
// into the API type and passes the CRD's schema and CEL rules.
func TestConvertGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "convert", "*.input.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs in testdata/convert: %v", err)
	}
	schema := loadRedisFailoverSchema(t)
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".input.yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			conv, err := Convert(data, ConvertOptions{Source: filepath.Base(in)})
			if err != nil {
				t.Fatal(err)
			}
			out, err := conv.YAML()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "convert/"+name+".yaml", string(out))
			var report bytes.Buffer
			conv.PrintReport(&report)
			golden(t, "convert/"+name+".report.txt", report.String())

			converted := 0
			for i, doc := range convertDocuments(t, out) {
				var head struct{ APIVersion, Kind string }
				if err := yaml.Unmarshal(doc, &head); err != nil {
					t.Fatalf("output document %d is not YAML: %v", i+1, err)
				}
				if head.APIVersion == SpotahomeAPIVersion {
					t.Errorf("output document %d is still a Spotahome RedisFailover", i+1)
				}
				if head.APIVersion != haredisv1.GroupVersion.String() || head.Kind != Kind {
					continue
				}
				converted++
				rf := &haredisv1.RedisFailover{}
				if err := yaml.UnmarshalStrict(doc, rf); err != nil {
					t.Errorf("output document %d does not read back as a RedisFailover: %v", i+1, err)
				}
				schema.validate(t, doc)
			}
			if converted == 0 {
				t.Error("no RedisFailover in the output")
			}
		})
	}
}

func TestConvertJSON(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "convert", "multi-document.input.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	conv, err := Convert(data, ConvertOptions{Source: "multi-document.input.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := conv.Data()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := PrintData(&b, OutputJSON, d); err != nil {
		t.Fatal(err)
	}
	golden(t, "convert/multi-document.json", b.String())
	var back ConvertData
	if err := yaml.UnmarshalStrict(b.Bytes(), &back); err != nil {
		t.Fatalf("the JSON does not read back: %v", err)
	}
	if len(back.Manifests) != 5 || len(back.NotCarried) != len(conv.NotCarried()) || len(back.Notes) == 0 {
		t.Errorf("%d manifests, %d not carried, %d notes", len(back.Manifests), len(back.NotCarried), len(back.Notes))
	}
	for _, n := range back.NotCarried {
		if n.Object == "" || n.Field == "" || n.Reason == "" {
			t.Errorf("an incomplete entry: %+v", n)
		}
	}
}

// Nothing to convert is an error, with a message that says what was found.
func TestConvertRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ input, want string }{
		"empty":         {"", "holds no databases.spotahome.com/v1 RedisFailover to convert (found no Kubernetes object)"},
		"comments only": {"# nothing\n---\n", "holds no databases.spotahome.com/v1 RedisFailover"},
		"not YAML":      {"apiVersion: v1\nkind: [Secret\n", "document 1 is not YAML"},
		"text":          {"just some words\n", "document 1 is not a Kubernetes object"},
		"no kind":       {"foo: bar\n", "document 1 is not a Kubernetes object"},
		"other kinds":   {"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n", "(found v1 Secret s)"},
		"haredis already": {"apiVersion: haredis.dev/v1\nkind: RedisFailover\nmetadata:\n  name: app\n",
			"(found haredis.dev/v1 RedisFailover app)"},
		"old version": {"apiVersion: storage.spotahome.com/v1alpha2\nkind: RedisFailover\nmetadata:\n  name: app\n",
			"document 1 is a storage.spotahome.com/v1alpha2 RedisFailover"},
		"no name":       {"apiVersion: databases.spotahome.com/v1\nkind: RedisFailover\nspec: {}\n", "has no metadata.name"},
		"bad separator": {"apiVersion: v1\nkind: Secret\n--- x\n", "is not YAML"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Convert([]byte(tc.input), ConvertOptions{Source: "in.yaml"})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "in.yaml") {
				t.Errorf("got %v, want an error about in.yaml with %q", err, tc.want)
			}
		})
	}
}

// -n puts the converted RedisFailovers without a namespace into it and
// refuses one that names another.
func TestConvertNamespace(t *testing.T) {
	rf := "apiVersion: databases.spotahome.com/v1\nkind: RedisFailover\nmetadata:\n  name: app\n%s"
	conv, err := Convert([]byte(strings.Replace(rf, "%s", "", 1)), ConvertOptions{Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if got := conv.Documents[0].RedisFailover.Namespace; got != "shop" {
		t.Errorf("namespace %q, want shop", got)
	}
	_, err = Convert([]byte(strings.Replace(rf, "%s", "  namespace: prod\n", 1)), ConvertOptions{Namespace: "shop"})
	if err == nil || !strings.Contains(err.Error(), "is in namespace prod, not shop") {
		t.Errorf("got %v, want a refusal", err)
	}
}

// A password never reaches the report, whatever line holds it.
func TestConvertHidesPasswords(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "convert", "auth.input.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	conv, err := Convert(data, ConvertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var report bytes.Buffer
	conv.PrintReport(&report)
	d, _ := conv.Data()
	var js bytes.Buffer
	_ = PrintData(&js, OutputJSON, struct {
		N []NotCarried
		C []ConvertNote
	}{d.NotCarried, d.Notes})
	for _, out := range []string{report.String(), js.String()} {
		if strings.Contains(out, "other-pass-not-real") {
			t.Errorf("a password in the report:\n%s", out)
		}
	}
}

func convertDocuments(t *testing.T, out []byte) [][]byte {
	t.Helper()
	docs, err := convertSplit(out)
	if err != nil {
		t.Fatalf("the output is not YAML: %v", err)
	}
	return docs
}

// redisFailoverSchema is the RedisFailover CRD's schema, to check a
// manifest as the API server would on create: defaults, the OpenAPI
// schema, then the CEL rules.
type redisFailoverSchema struct {
	props      *apiextensions.JSONSchemaProps
	structural *structuralschema.Structural
}

func loadRedisFailoverSchema(t *testing.T) *redisFailoverSchema {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "haredis.dev_redisfailovers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(data, crd); err != nil {
		t.Fatal(err)
	}
	var v1Schema *apiextensionsv1.JSONSchemaProps
	for _, v := range crd.Spec.Versions {
		if v.Name == haredisv1.GroupVersion.Version && v.Schema != nil {
			v1Schema = v.Schema.OpenAPIV3Schema
		}
	}
	if v1Schema == nil {
		t.Fatal("the CRD has no schema of v1")
	}
	props := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1Schema, props, nil); err != nil {
		t.Fatal(err)
	}
	s, err := structuralschema.NewStructural(props)
	if err != nil {
		t.Fatal(err)
	}
	return &redisFailoverSchema{props: props, structural: s}
}

func (s *redisFailoverSchema) validate(t *testing.T, doc []byte) {
	t.Helper()
	for _, e := range s.refusals(t, doc) {
		t.Errorf("the API server would refuse the manifest: %s", e)
	}
}

// refusals are what the API server would say against doc on create.
func (s *redisFailoverSchema) refusals(t *testing.T, doc []byte) []string {
	t.Helper()
	// As the API server reads it: whole numbers are int64.
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(js, &obj); err != nil {
		t.Fatal(err)
	}
	structuraldefaulting.Default(obj, s.structural)
	validator, _, err := apiservervalidation.NewSchemaValidator(s.props)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range apiservervalidation.ValidateCustomResource(nil, obj, validator) {
		out = append(out, e.Error())
	}
	// The API server's per-call limit and budget for one object.
	const perCallLimit, costBudget = 1000000, 10000000
	errs, _ := cel.NewValidator(s.structural, true, perCallLimit).Validate(context.Background(), nil, s.structural, obj, nil, costBudget)
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// The check of the converted manifests sees what the API server refuses.
func TestConvertSchemaCheckRefuses(t *testing.T) {
	schema := loadRedisFailoverSchema(t)
	for doc, want := range map[string]string{
		"spec:\n  sentinel:\n    replicas: 4\n":             "must be odd and at least 3",
		"spec:\n  redis:\n    config:\n      port: \"1\"\n": "port is set by haredis itself",
		"spec:\n  redis:\n    persistence: Sometimes\n":     "Unsupported value",
	} {
		got := schema.refusals(t, []byte("apiVersion: haredis.dev/v1\nkind: RedisFailover\nmetadata:\n  name: app\n"+doc))
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("%s: refusals %q, want one with %q", doc, got, want)
		}
	}
	if got := schema.refusals(t, []byte("apiVersion: haredis.dev/v1\nkind: RedisFailover\nmetadata:\n  name: app\nspec: {}\n")); len(got) > 0 {
		t.Errorf("the smallest RedisFailover is refused: %q", got)
	}
}
