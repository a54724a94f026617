package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	// The pure-Go SQLite driver registers itself as "sqlite3" (no cgo needed). It is chosen
	// over modernc.org/sqlite for its start-up cost: linked into every nvskit command, its
	// package initialisation costs about a tenth of modernc's.
	_ "github.com/ncruces/go-sqlite3/driver"
)

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
		// The ledger holds the VALUES rows: readable by its owner only. SQLite gives its
		// -wal and -shm files the database file's permissions.
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
	}
	// WAL lets readers (status, export) run while a station writes; FULL synchronous makes a
	// committed claim survive a power cut; BEGIN IMMEDIATE takes the write lock at the start
	// of every transaction, so concurrent claims queue on the busy timeout instead of failing.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), OmitHost: true}
	if filepath.IsAbs(path) && !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path // a Windows drive letter: file:///C:/...
	}
	u.RawQuery = fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate",
		sqliteBusyTimeout.Milliseconds())
	db, err := sql.Open("sqlite3", u.String())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return &sqliteLedger{&store{db: db, d: sqliteDialect, now: time.Now}}, nil
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
