// Package fileutil writes files so that a crash never leaves a half-written
// one behind, and only when their content changes.
package fileutil

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// WriteAtomic writes data to path with the given mode through a temporary
// file in the same folder and a rename. The file never exists with a wider
// mode than asked for, even briefly.
func WriteAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// WriteIfChanged writes data with WriteAtomic unless path already holds
// exactly data; then it only corrects the mode. It reports whether it wrote.
func WriteIfChanged(path string, data []byte, mode os.FileMode) (bool, error) {
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, data) {
		if err := os.Chmod(path, mode); err != nil {
			return false, fmt.Errorf("set mode of %s: %w", path, err)
		}
		return false, nil
	}
	if err != nil && !os.IsNotExist(err) {
		return false, err
	}
	return true, WriteAtomic(path, data, mode)
}
