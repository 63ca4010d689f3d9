package controller

import (
	"testing"

	"github.com/haredis/haredis/internal/instanceapi"
)

func TestVolumeUsedPercent(t *testing.T) {
	const gi = int64(1 << 30)
	cases := []struct {
		name     string
		capacity int64
		v        *instanceapi.Volume
		want     int32 // -1: unset
	}{
		{"nothing measured", gi, nil, -1},
		{"no capacity yet", 0, &instanceapi.Volume{DataBytes: 10}, -1},
		{"a filesystem of its own", gi, &instanceapi.Volume{DataBytes: gi / 4, FilesystemBytes: gi - gi/50, FilesystemFreeBytes: gi / 2}, 49},
		{"a filesystem rounded up by the provisioner", gi, &instanceapi.Volume{FilesystemBytes: 2 * gi, FilesystemFreeBytes: gi}, 50},
		{"a directory on a shared disk", gi, &instanceapi.Volume{DataBytes: gi / 10, FilesystemBytes: 500 * gi, FilesystemFreeBytes: 100 * gi}, 10},
		{"a few bytes round up", gi, &instanceapi.Volume{DataBytes: 1, FilesystemBytes: 500 * gi}, 1},
		{"more files than capacity", gi, &instanceapi.Volume{DataBytes: 3 * gi, FilesystemBytes: 500 * gi}, 100},
		{"empty", gi, &instanceapi.Volume{FilesystemBytes: 500 * gi}, 0},
	}
	for _, tc := range cases {
		got := volumeUsedPercent(tc.capacity, tc.v)
		switch {
		case tc.want < 0 && got != nil:
			t.Errorf("%s: %d%%, want unset", tc.name, *got)
		case tc.want >= 0 && (got == nil || *got != tc.want):
			t.Errorf("%s: %v, want %d%%", tc.name, got, tc.want)
		}
	}
}
