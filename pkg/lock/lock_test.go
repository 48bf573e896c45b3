package lock

import (
	"errors"
	"os"
	"os/exec"
	"testing"
)

func TestSecondAcquireFails(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(dir); !errors.Is(err, ErrHeld) {
		t.Fatalf("second Acquire: got %v, want ErrHeld", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

// The lock must hold against another process, which is what it is for.
func TestLockHeldAgainstOtherProcess(t *testing.T) {
	if os.Getenv("KITE_LOCK_CHILD") != "" {
		_, err := Acquire(os.Getenv("KITE_LOCK_CHILD"))
		if errors.Is(err, ErrHeld) {
			os.Exit(3)
		}
		os.Exit(0)
	}
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHeldAgainstOtherProcess$")
	cmd.Env = append(os.Environ(), "KITE_LOCK_CHILD="+dir)
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("child process should have found the lock held, got %v", err)
	}
}

func TestAcquireMissingDir(t *testing.T) {
	if _, err := Acquire(t.TempDir() + "/missing"); err == nil {
		t.Fatal("expected an error for a missing directory")
	}
}
