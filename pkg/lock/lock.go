// Package lock keeps two kite processes from using one data dir at once.
//
// The lock is an flock(2) on the directory itself: taking it writes nothing,
// and the kernel drops it when the process dies, so no stale lock survives a
// crash or a power cut.
package lock

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrHeld is returned (wrapped) when another process holds the lock.
var ErrHeld = errors.New("lock held by another process")

// Lock is a held directory lock.
type Lock struct {
	f *os.File
}

// Acquire takes the lock on dir without waiting. dir must exist.
func Acquire(dir string) (*Lock, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrHeld)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	return err
}

// DataDir creates kite's data dir dir (with create, a folder inside it, if
// not "") and takes its lock, with errors that say what to do.
func DataDir(dir, create string) (*Lock, error) {
	if create == "" {
		create = dir
	}
	if err := os.MkdirAll(create, 0o700); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("cannot create data dir %s: %w; run as root, or pass --data-dir with a folder you can write", dir, err)
	}
	lk, err := Acquire(dir)
	if errors.Is(err, ErrHeld) {
		return nil, fmt.Errorf("data dir %s is in use by another kite process; stop that one first, or give this one its own --data-dir", dir)
	}
	return lk, err
}
