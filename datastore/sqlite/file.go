package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers "sqlite3"
)

// header is how every SQLite database file begins.
var header = []byte("SQLite format 3\x00")

func pathOf(dsn string) string {
	path, _, _ := strings.Cut(dsn, "?")
	return path
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// open opens the database at path for kite's own checks and copies (not
// kine's serving).
func open(path string, readOnly bool) (*sql.DB, error) {
	dsn := "file:" + path + "?_busy_timeout=30000"
	if readOnly {
		dsn += "&mode=ro"
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Check makes sure the file at path is an SQLite database whose schema
// SQLite can read, and, if thorough, that every page of it is sound
// (PRAGMA integrity_check, which reads the whole file). If wantKine, it
// must hold kine's table, as a kite database or backup does.
func Check(ctx context.Context, path string, thorough, wantKine bool) error {
	if err := checkHeader(path); err != nil {
		return err
	}
	db, err := open(path, true)
	if err != nil {
		return err
	}
	defer db.Close()
	var tables int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'kine'").Scan(&tables); err != nil {
		return fmt.Errorf("%s is damaged: SQLite cannot read its schema: %w", path, err)
	}
	if wantKine && tables == 0 {
		return fmt.Errorf("%s is an SQLite database but not kite's (it has no kine table)", path)
	}
	if thorough {
		var result string
		if err := db.QueryRowContext(ctx, "PRAGMA integrity_check(1)").Scan(&result); err != nil {
			return fmt.Errorf("%s is damaged: %w", path, err)
		}
		if result != "ok" {
			return fmt.Errorf("%s is damaged: SQLite's integrity check says %q", path, result)
		}
	}
	return nil
}

// CheckExisting checks that the database at path, if there is one, is an
// SQLite file, without opening it: opening a database in WAL mode creates
// files beside it, and a start that fails later must not have changed
// anything. SQLite reads the rest when kine opens it (prepareFile).
func CheckExisting(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := checkHeader(path); err != nil {
		return fileError(path, err)
	}
	return nil
}

func checkHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	got := make([]byte, len(header))
	_, err = io.ReadFull(f, got)
	f.Close()
	if err != nil || !bytes.Equal(got, header) {
		return fmt.Errorf("%s is not an SQLite database (it does not begin with SQLite's header)", path)
	}
	return nil
}

// fileError names the database in an error from opening it, and for a
// damaged file says what to do.
func fileError(path string, err error) error {
	msg := err.Error()
	if !strings.Contains(msg, path) {
		err = fmt.Errorf("the datastore %s: %w", path, err)
	}
	for _, damaged := range []string{"malformed", "not a database", "damaged", "not an SQLite database"} {
		if strings.Contains(msg, damaged) {
			return fmt.Errorf("%w; restore a backup with 'kite server --datastore-restore FILE', or move %s aside to start an empty cluster", err, path)
		}
	}
	return err
}

// prepareFile makes the database file 0600 (it holds the cluster's
// Secrets; SQLite gives its WAL and index the database's mode), checks an
// existing one before kine opens it, and turns on incremental vacuum in
// one made before kite set it (a VACUUM, once).
func prepareFile(ctx context.Context, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		// SQLite takes an empty file for a new database.
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		return f.Close()
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := Check(ctx, path, false, false); err != nil {
		return fileError(path, err)
	}
	db, err := open(path, false)
	if err != nil {
		return err
	}
	defer db.Close()
	var mode int
	if err := db.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return fileError(path, err)
	}
	if mode == 2 { // incremental
		return nil
	}
	slog.Info("sqlite: turning on incremental vacuum (a VACUUM, once)", "file", path)
	if _, err := db.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
		return fileError(path, err)
	}
	if _, err := db.ExecContext(ctx, "VACUUM"); err != nil {
		return fileError(path, err)
	}
	return nil
}

// Backup writes a consistent copy of the database at path to dst, whether
// or not a server is using it: SQLite's VACUUM INTO reads one snapshot
// while writers carry on. The copy is written beside dst and renamed into
// place once complete and on disk, so a failure (a full disk) leaves no
// dst; an existing dst is never overwritten.
func Backup(ctx context.Context, path, dst string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no datastore to back up: %w", err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s already exists; give the backup a new name, or remove the old file first", dst)
	}
	if err := Check(ctx, path, false, true); err != nil {
		return fileError(path, err)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", dst, os.Getpid())
	// The copy is the cluster's secrets: nobody else reads it, even while
	// it is written.
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("cannot write the backup: %w", err)
	}
	f.Close()
	fail := func(err error) error {
		// SQLite's own journal of the copy too, if it was cut short.
		for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
			os.Remove(tmp + suffix)
		}
		return err
	}
	db, err := open(path, false)
	if err != nil {
		return fail(err)
	}
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", tmp)
	db.Close()
	if err != nil {
		return fail(fmt.Errorf("backing up %s to %s: %w", path, dst, err))
	}
	if err := syncFile(tmp); err != nil {
		return fail(fmt.Errorf("writing the backup out: %w", err))
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fail(err)
	}
	return syncDir(filepath.Dir(dst))
}

// Restore puts the backup src in place of the database at path, which no
// server may be using (the caller holds the data dir's lock). The old
// database, with its WAL, is kept beside it as path.old-TIME; aside is
// that name ("" when there was none). A backup already restored there
// (same content, recorded in path.restored) is not restored again, so a
// --datastore-restore left on a service's command line does not undo the
// writes made since: restored is false then.
func Restore(ctx context.Context, path, src string) (aside string, restored bool, err error) {
	if err := Check(ctx, src, true, true); err != nil {
		return "", false, fmt.Errorf("cannot restore: %w", err)
	}
	sum, err := fileSum(src)
	if err != nil {
		return "", false, err
	}
	marker := path + ".restored"
	if done, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(done)) == sum {
		if _, err := os.Stat(path); err == nil {
			return "", false, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, err
	}
	tmp := path + ".restore-tmp"
	if err := copyFile(src, tmp); err != nil {
		os.Remove(tmp)
		return "", false, fmt.Errorf("cannot restore %s: %w", src, err)
	}
	if _, err := os.Stat(path); err == nil {
		aside = path + ".old-" + time.Now().UTC().Format("20060102T150405Z")
		// The WAL and its index go along: left behind, they would be
		// applied to the restored file.
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(path+suffix, aside+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				os.Remove(tmp)
				return "", false, fmt.Errorf("cannot move the old datastore aside: %w", err)
			}
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return aside, false, err
	}
	if err := os.WriteFile(marker, []byte(sum+"\n"), 0o600); err != nil {
		return aside, true, err
	}
	return aside, true, syncDir(filepath.Dir(path))
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
