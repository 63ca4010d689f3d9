package main

import (
	"strings"
	"testing"
)

func TestValuesNeedAComment(t *testing.T) {
	vs, err := Values([]byte("# The image.\nimage:\n  # Its repository.\n  repository: r\n  # Its tag.\n  tag: \"\"\n# Resources.\nresources:\n  limits: {memory: 1Gi}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Value{{"image.repository", `"r"`, "Its repository."}, {"image.tag", `""`, "Its tag."}, {"resources", `{"limits":{"memory":"1Gi"}}`, "Resources."}}
	if len(vs) != len(want) {
		t.Fatalf("values %+v", vs)
	}
	for i := range want {
		if vs[i] != want[i] {
			t.Errorf("value %d: %+v, want %+v", i, vs[i], want[i])
		}
	}
	if _, err := Values([]byte("# Documented.\na: 1\nb: 2\n")); err == nil || !strings.Contains(err.Error(), "b has no comment") {
		t.Errorf("an undocumented value: %v", err)
	}
}
