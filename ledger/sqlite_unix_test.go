//go:build unix

package ledger

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The ledger holds the VALUES rows, and so do its -wal (the rows written last) and its -shm
// (the WAL's index): under the usual umask 022 none of them is readable by other users, while
// the ledger is open, after it was closed and opened again, and when a -shm left by another
// tool is more open than the database file.
func TestSQLiteFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "l.db")
	check := func(when string) {
		t.Helper()
		for _, s := range []string{"", "-wal", "-shm"} {
			st, err := os.Stat(dsn + s)
			if err != nil {
				t.Errorf("%s: %v", when, err)
				continue
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s has mode %v, want 0600", when, filepath.Base(dsn+s), st.Mode().Perm())
			}
		}
	}
	l := initLedger(t, dsn)
	if err := l.Add(ctx, serials(1, 3), "test"); err != nil {
		t.Fatal(err)
	}
	check("after init and add")
	l.Close()

	// Reopened with a world-readable -shm lying about (an older nvskit, a copy): narrowed.
	if err := os.WriteFile(dsn+"-shm", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dsn+"-shm", 0o644)
	l = openLedger(t, dsn)
	defer l.Close()
	if err := l.Add(ctx, serials(10, 3), "test"); err != nil {
		t.Fatal(err)
	}
	check("after reopening")
}

// A device or a FIFO as the ledger is refused as a bad --db, and nothing is made next to it.
func TestSQLiteRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	for _, p := range []string{fifo} {
		for _, open := range []func(context.Context, string) (Ledger, error){Open, OpenForInit} {
			l, err := open(context.Background(), p)
			if err == nil {
				l.Close()
				t.Fatalf("%s opened as a ledger", p)
			}
			if !errors.Is(err, ErrBadDSN) || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: %v", p, err)
			}
		}
	}
	if _, err := os.Lstat(fifo + "-shm"); err == nil {
		t.Errorf("%s-shm made", fifo)
	}
}

// A file that is no SQLite database is refused, left as it was, and nothing is made next
// to it.
func TestSQLiteNotADatabase(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "values.csv")
	os.WriteFile(p, []byte("a,b\n1,2\n"), 0o644)
	for _, open := range []func(context.Context, string) (Ledger, error){Open, OpenForInit} {
		if l, err := open(context.Background(), p); err == nil {
			l.Close()
			t.Fatal("a CSV opened as a ledger")
		}
	}
	if b, _ := os.ReadFile(p); string(b) != "a,b\n1,2\n" {
		t.Errorf("the file was changed: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files made next to it: %v", ents)
	}
}

// init of an existing ledger checks it is one without leaving world-readable -wal or -shm
// files next to it.
func TestInitExistingLedgerFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dsn := filepath.Join(t.TempDir(), "l.db")
	initLedger(t, dsn).Close()
	l := initLedger(t, dsn)
	defer l.Close()
	ents, _ := os.ReadDir(filepath.Dir(dsn))
	for _, e := range ents {
		if i, err := e.Info(); err == nil && i.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", e.Name(), i.Mode().Perm())
		}
	}
}
