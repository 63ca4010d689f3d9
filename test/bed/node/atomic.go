package node

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Names a kubelet's AtomicWriter reserves in the directory of a configMap,
// secret, downwardAPI or projected volume.
const (
	dataLink    = "..data"
	dataLinkTmp = "..data_tmp"
)

// fileProjection is one file of a configMap, secret, downwardAPI or
// projected volume: its content and mode.
type fileProjection struct {
	data []byte
	mode os.FileMode
}

// writeAtomic lays payload out in dir as a kubelet's AtomicWriter does:
//
//	dir/..2026_01_02_15_04_05.123456789/KEY   the files, in a timestamped directory
//	dir/..data -> ..2026_01_02_15_04_05.123456789
//	dir/KEY -> ..data/KEY                      one link per top-level name
//
// A new version goes to a new timestamped directory; ..data is then swapped
// to it by a rename, which is atomic, so a reader that follows the links
// sees either the whole old content or the whole new one. Top-level links of
// names that went away are removed, then the old directory. Nothing is
// written when the content and modes are unchanged; written says whether
// anything was.
func writeAtomic(dir string, payload map[string]fileProjection) (written bool, err error) {
	clean := make(map[string]fileProjection, len(payload))
	for p, f := range payload {
		if err := validatePayloadPath(p); err != nil {
			return false, err
		}
		clean[filepath.Clean(p)] = f
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	oldTs, err := os.Readlink(filepath.Join(dir, dataLink))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("cannot read %s: %w", dataLink, err)
	}
	var oldPaths []string
	if oldTs != "" {
		oldPaths, err = listFiles(filepath.Join(dir, oldTs))
		if err != nil {
			return false, err
		}
		same, err := sameContent(filepath.Join(dir, oldTs), oldPaths, clean)
		if err != nil {
			return false, err
		}
		if same {
			return false, nil
		}
	}
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, fmt.Errorf("cannot create a timestamped directory: %w", err)
	}
	// MkdirTemp makes it 0700; others must be able to walk it.
	if err := os.Chmod(ts, 0o755); err != nil {
		return false, errors.Join(err, os.RemoveAll(ts))
	}
	for p, f := range clean {
		full := filepath.Join(ts, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return false, errors.Join(err, os.RemoveAll(ts))
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			return false, errors.Join(err, os.RemoveAll(ts))
		}
		// WriteFile's mode is masked by the umask.
		if err := os.Chmod(full, f.mode); err != nil {
			return false, errors.Join(err, os.RemoveAll(ts))
		}
	}
	tmpLink := filepath.Join(dir, dataLinkTmp)
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(ts), tmpLink); err != nil {
		return false, errors.Join(err, os.RemoveAll(ts))
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataLink)); err != nil {
		return false, errors.Join(fmt.Errorf("cannot swap %s: %w", dataLink, err), os.Remove(tmpLink), os.RemoveAll(ts))
	}
	// Links for new top-level names, then away with those of names gone.
	top := map[string]bool{}
	for p := range clean {
		name, _, _ := strings.Cut(p, string(filepath.Separator))
		top[name] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); errors.Is(err, fs.ErrNotExist) {
			if err := os.Symlink(filepath.Join(dataLink, name), link); err != nil {
				return true, fmt.Errorf("cannot link %s: %w", name, err)
			}
		}
	}
	var errs []error
	for _, p := range oldPaths {
		if strings.Contains(p, string(filepath.Separator)) || top[p] {
			continue
		}
		// Only the links this writer made; a nested mount point stays.
		if st, err := os.Lstat(filepath.Join(dir, p)); err == nil && st.Mode()&os.ModeSymlink != 0 {
			errs = append(errs, os.Remove(filepath.Join(dir, p)))
		}
	}
	if oldTs != "" {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, oldTs)))
	}
	return true, errors.Join(errs...)
}

// validatePayloadPath refuses what a kubelet refuses: empty or absolute
// paths, `..` elements, and a first element starting with `..` (reserved).
func validatePayloadPath(p string) error {
	if p == "" || filepath.IsAbs(p) {
		return fmt.Errorf("invalid path %q: must be relative and not empty", p)
	}
	parts := strings.Split(p, string(filepath.Separator))
	if slices.Contains(parts, "..") {
		return fmt.Errorf("invalid path %q: must not contain '..'", p)
	}
	if strings.HasPrefix(parts[0], "..") {
		return fmt.Errorf("invalid path %q: must not start with '..'", p)
	}
	return nil
}

// listFiles lists every path (files and directories) under dir, relative.
func listFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return out, err
}

// sameContent says whether the timestamped directory ts, holding paths,
// already is payload: the same files with the same content and mode.
func sameContent(ts string, paths []string, payload map[string]fileProjection) (bool, error) {
	files := 0
	for _, p := range paths {
		st, err := os.Lstat(filepath.Join(ts, p))
		if err != nil {
			return false, err
		}
		if st.IsDir() {
			continue
		}
		files++
		want, ok := payload[p]
		if !ok || st.Mode().Perm() != want.mode.Perm() {
			return false, nil
		}
		got, err := os.ReadFile(filepath.Join(ts, p))
		if err != nil {
			return false, err
		}
		if !bytes.Equal(got, want.data) {
			return false, nil
		}
	}
	return files == len(payload), nil
}
