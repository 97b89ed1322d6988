package certs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// dataLink is the symlink in the certificate directory that points to the
// directory holding the current files, the layout kubelet uses for Secret
// volumes: each file is a symlink through dataLink, and replacing dataLink
// with one rename switches every file at once. A reader never sees a new
// certificate with an old key.
const dataLink = "..data"

// WriteFiles makes dir serve files (name to content) atomically, in the same
// layout a Secret volume has. Files already holding the same content are
// left alone, so watchers see no change; it reports whether anything changed.
func WriteFiles(dir string, files map[string][]byte) (changed bool, err error) {
	same := true
	for name, content := range files {
		if strings.ContainsRune(name, filepath.Separator) || strings.HasPrefix(name, "..") {
			return false, fmt.Errorf("invalid file name %q", name)
		}
		old, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(old, content) {
			same = false
		}
	}
	if same {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	oldTarget, _ := os.Readlink(filepath.Join(dir, dataLink))
	tsDir, err := os.MkdirTemp(dir, "..data_")
	if err != nil {
		return false, err
	}
	for name, content := range files {
		if err := writeSynced(filepath.Join(tsDir, name), content); err != nil {
			os.RemoveAll(tsDir)
			return false, err
		}
	}
	if err := replaceSymlink(filepath.Base(tsDir), filepath.Join(dir, dataLink)); err != nil {
		os.RemoveAll(tsDir)
		return false, err
	}
	for name := range files {
		link := filepath.Join(dir, name)
		want := filepath.Join(dataLink, name)
		if cur, err := os.Readlink(link); err == nil && cur == want {
			continue
		}
		// Replaces a regular file left by an older writer, too.
		if err := replaceSymlink(want, link); err != nil {
			return true, err
		}
	}
	if oldTarget != "" && oldTarget != filepath.Base(tsDir) && strings.HasPrefix(oldTarget, "..data_") {
		// A reader that resolved the old path just before the switch may
		// fail to open it now; Watcher then resolves ..data again.
		if err := os.RemoveAll(filepath.Join(dir, oldTarget)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return true, err
		}
	}
	return true, nil
}

func writeSynced(path string, content []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// replaceSymlink points link at target atomically, through a rename.
func replaceSymlink(target, link string) error {
	tmp := link + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}
