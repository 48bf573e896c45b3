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
