package main

import (
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// changedFields names the status fields that differ between a and b, by
// their JSON names: a condition as conditions[TYPE], an instance's field
// as instances[].FIELD.
func changedFields(a, b haredisv1.RedisFailoverStatus) []string {
	out := structDiff("", reflect.ValueOf(a), reflect.ValueOf(b), map[string]bool{"conditions": true, "instances": true})
	out = append(out, conditionDiff(a, b)...)
	out = append(out, instanceDiff(a.Instances, b.Instances)...)
	sort.Strings(out)
	return out
}

// structDiff compares the fields of two structs of one type, skipping
// those named in skip.
func structDiff(prefix string, a, b reflect.Value, skip map[string]bool) []string {
	var out []string
	for i := 0; i < a.NumField(); i++ {
		name := jsonName(a.Type().Field(i))
		if skip[name] {
			continue
		}
		if !equality.Semantic.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			out = append(out, prefix+name)
		}
	}
	return out
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

func conditionDiff(a, b haredisv1.RedisFailoverStatus) []string {
	byType := func(s haredisv1.RedisFailoverStatus) map[string]any {
		m := map[string]any{}
		for _, c := range s.Conditions {
			m[c.Type] = c
		}
		return m
	}
	ma, mb := byType(a), byType(b)
	var out []string
	for t := range union(ma, mb) {
		if !equality.Semantic.DeepEqual(ma[t], mb[t]) {
			out = append(out, "conditions["+t+"]")
		}
	}
	return out
}

func instanceDiff(a, b []haredisv1.InstanceStatus) []string {
	if len(a) != len(b) {
		return []string{"instances"}
	}
	seen := map[string]bool{}
	for i := range a {
		for _, f := range structDiff("instances[].", reflect.ValueOf(a[i]), reflect.ValueOf(b[i]), nil) {
			seen[f] = true
		}
	}
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	return out
}

func union(a, b map[string]any) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
