package ledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	// The pure-Go SQLite driver (no cgo needed). It is chosen over modernc.org/sqlite for its
	// start-up cost: linked into every nvskit command, its package initialisation costs about
	// a tenth of modernc's.
	sqlite3driver "github.com/ncruces/go-sqlite3/driver"
)

// sqliteConnector opens the ledger's connections, each after giving the -shm file the
// database file's permissions: the driver creates it 0666 less the umask (world-readable
// under the usual 022) and has no option to do otherwise, and SQLite removes it when the last
// connection closes, so it is made again, 0600, before every connection.
type sqliteConnector struct {
	driver.Connector
	path string
}

// Connect makes the -shm file as private as the database file, then connects; a -shm it
// made is removed again when the connection fails (the file is no SQLite database, say).
func (c sqliteConnector) Connect(ctx context.Context) (driver.Conn, error) {
	shm := c.path + "-shm"
	made, err := matchMode(shm, c.path)
	if err != nil {
		return nil, err
	}
	conn, err := c.Connector.Connect(ctx)
	if err != nil && made {
		if st, serr := os.Stat(shm); serr == nil && st.Size() == 0 {
			os.Remove(shm)
		}
	}
	return conn, err
}

// matchMode creates file (empty) with the permissions of like and says so, or takes from an
// existing file the permissions like has not. A like that is missing or not a regular file
// is left to the open that follows to report.
func matchMode(file, like string) (made bool, err error) {
	st, err := os.Stat(like)
	if err != nil || !st.Mode().IsRegular() {
		return false, nil
	}
	perm := st.Mode().Perm()
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
	if err == nil {
		return true, f.Close()
	}
	if !errors.Is(err, os.ErrExist) {
		return false, fmt.Errorf("creating %s: %w", file, err)
	}
	fst, err := os.Lstat(file)
	if err != nil || !fst.Mode().IsRegular() {
		return false, nil // gone meanwhile, or not a file: SQLite's open reports it
	}
	if fst.Mode().Perm()&^perm != 0 {
		if err := os.Chmod(file, fst.Mode().Perm()&perm); err != nil {
			return false, fmt.Errorf("%s is readable by more users than %s: %w", file, like, err)
		}
	}
	return false, nil
}

// sqliteLedger is the Ledger in a SQLite file.
type sqliteLedger struct{ *store }

var sqliteDialect = &dialect{
	name:       "sqlite",
	migrations: []string{sqliteV1},
	time:       sqliteTime,
	unique: func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
	},
}

// sqliteBusyTimeout is how long a write waits for another process's transaction. Claims are
// short; a long timeout only matters when something holds the file (a backup, a shell).
const sqliteBusyTimeout = 30 * time.Second

func openSQLite(ctx context.Context, path string, create bool) (Ledger, error) {
	if strings.Contains(path, "://") {
		return nil, fmt.Errorf("%w: %q: give a file path, or a postgres:// URL", ErrBadDSN, path)
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if !create {
			return nil, fmt.Errorf("%s: %w", path, ErrNotInitialised)
		}
		if _, err := os.Stat(filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadDSN, err)
		}
		// The ledger holds the VALUES rows: readable by its owner only. Its -wal and -shm
		// files get the database file's permissions (see sqliteConnector).
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		if f != nil {
			f.Close()
		}
	case err != nil:
		return nil, err
	case st.IsDir():
		return nil, fmt.Errorf("%w: %s is a directory", ErrBadDSN, path)
	case !st.Mode().IsRegular():
		// A device or a FIFO: SQLite fails on it with "disk I/O error", after the -shm next to
		// it was made (in /dev, for --db /dev/null).
		return nil, fmt.Errorf("%w: %s is not a regular file; the ledger is a SQLite file", ErrBadDSN, path)
	}
	// WAL lets readers (status, export) run while a station writes; FULL synchronous makes a
	// committed claim survive a power cut; BEGIN IMMEDIATE takes the write lock at the start
	// of every transaction, so concurrent claims queue on the busy timeout instead of failing.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), OmitHost: true}
	if filepath.IsAbs(path) && !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path // a Windows drive letter: file:///C:/...
	}
	// modeof gives the -wal (and a rollback journal) the database file's mode and owner:
	// the driver creates them 0666 less the umask, world-readable under the usual 022, and
	// the WAL holds the rows written last.
	u.RawQuery = fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate&modeof=%s",
		sqliteBusyTimeout.Milliseconds(), url.QueryEscape(path))
	if create && st != nil && st.Size() > 0 {
		if err := checkOwnDatabase(ctx, u, path); err != nil {
			return nil, err
		}
	}
	c, err := (&sqlite3driver.SQLite{}).OpenConnector(u.String())
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(sqliteConnector{Connector: c, path: path})
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return &sqliteLedger{&store{db: db, d: sqliteDialect, now: time.Now}}, nil
}

// checkOwnDatabase refuses, before Init adds its tables, a SQLite file that holds another
// program's tables and no ledger schema: --db naming an application's database by mistake
// must not change it. It reads the file through a read-only connection without the ledger's
// pragmas (journal_mode(WAL) would rewrite the header); a file that is no SQLite database is
// left to the open that follows to report.
func checkOwnDatabase(ctx context.Context, u url.URL, path string) error {
	hdr := make([]byte, 20)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	_, err = io.ReadFull(f, hdr)
	f.Close()
	if err != nil || string(hdr[:16]) != "SQLite format 3\x00" {
		return nil
	}
	u.RawQuery = "mode=ro"
	var db *sql.DB
	if hdr[18] == 2 {
		// WAL mode: the connection makes -wal and -shm (if missing), as private as the file.
		u.RawQuery += "&modeof=" + url.QueryEscape(path)
		c, err := (&sqlite3driver.SQLite{}).OpenConnector(u.String())
		if err != nil {
			return err
		}
		db = sql.OpenDB(sqliteConnector{Connector: c, path: path})
	} else if db, err = sql.Open("sqlite3", u.String()); err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return fmt.Errorf("opening %s: %w", path, err)
		}
		if n == "nvskit_schema" {
			return nil
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	if len(names) == 0 {
		return nil
	}
	if len(names) > 5 {
		names = append(names[:5], "...")
	}
	return fmt.Errorf("%s %w (tables %s): nvskit adds no tables to it; give --db a new file name", path, ErrForeignDatabase, strings.Join(names, ", "))
}

// sqliteV1 is the first schema. Times are text, YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC), which
// sorts as time does.
const sqliteV1 = `
CREATE TABLE identities (
	id TEXT PRIMARY KEY,
	seq INTEGER NOT NULL UNIQUE,
	row_json TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('available', 'claimed', 'provisioned', 'failed')),
	mac TEXT UNIQUE,
	chip TEXT NOT NULL DEFAULT '',
	station TEXT NOT NULL DEFAULT '',
	port TEXT NOT NULL DEFAULT '',
	claimed_at TEXT,
	done_at TEXT,
	image_sha256 TEXT NOT NULL DEFAULT '',
	image_md5 TEXT NOT NULL DEFAULT '',
	cert_sha256 TEXT NOT NULL DEFAULT '',
	cert_serial TEXT NOT NULL DEFAULT '',
	keys_sha256 TEXT NOT NULL DEFAULT '',
	verified INTEGER NOT NULL DEFAULT 0,
	attempts INTEGER NOT NULL DEFAULT 0,
	error TEXT NOT NULL DEFAULT '',
	CHECK ((state = 'available') = (mac IS NULL))
)
--;
CREATE INDEX identities_available ON identities (seq) WHERE state = 'available'
--;
CREATE INDEX identities_station ON identities (station, state)
--;
CREATE TABLE events (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	at TEXT NOT NULL,
	kind TEXT NOT NULL,
	identity TEXT NOT NULL DEFAULT '',
	mac TEXT NOT NULL DEFAULT '',
	station TEXT NOT NULL DEFAULT '',
	port TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT ''
)
--;
CREATE INDEX events_identity ON events (identity, seq)
--;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END
--;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END
`
