package instance

import (
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/haredis/haredis/internal/instanceapi"
)

// volumeEvery is how long a measure of the volume is reused: walking the
// data directory on every GET /status would cost more than it tells.
const volumeEvery = 10 * time.Second

// volume reports the use of the data volume, measured at most every
// volumeEvery.
func (m *Manager) volume() *instanceapi.Volume {
	m.vol.mu.Lock()
	defer m.vol.mu.Unlock()
	if m.vol.at.IsZero() || time.Since(m.vol.at) >= volumeEvery {
		m.vol.v, m.vol.at = measureVolume(m.opts.DataDir), time.Now()
	}
	if m.vol.v == nil {
		return nil
	}
	v := *m.vol.v
	return &v
}

// volumeMeasure is the last measure of the data volume.
type volumeMeasure struct {
	mu sync.Mutex
	v  *instanceapi.Volume
	at time.Time
}

// measureVolume: the bytes of the files under dir (files that vanish
// while it walks, as an AOF rewrite's temporary files do, are skipped),
// and the filesystem's size and free space; nil when dir cannot be read.
func measureVolume(dir string) *instanceapi.Volume {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil
	}
	v := &instanceapi.Volume{FilesystemBytes: int64(st.Blocks) * st.Bsize, FilesystemFreeBytes: int64(st.Bavail) * st.Bsize}
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			v.DataBytes += info.Size()
		}
		return nil
	})
	return v
}
