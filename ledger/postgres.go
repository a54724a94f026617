package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	// pgx's database/sql driver registers itself as "pgx".
	_ "github.com/jackc/pgx/v5/stdlib"
)

// pgLedger is the Ledger in a PostgreSQL database.
type pgLedger struct{ *store }

var pgDialect = &dialect{
	name:          "postgres",
	migrations:    []string{pgV1},
	forUpdate:     " FOR UPDATE",
	forUpdateSkip: " FOR UPDATE SKIP LOCKED",
	lockAdd:       "LOCK TABLE identities IN SHARE ROW EXCLUSIVE MODE",
	time:          func(t time.Time) any { return t.UTC() },
	unique: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "23505"
	},
	// The claims are written for READ COMMITTED (row locks, SKIP LOCKED, and the unique
	// index on mac as the last word): say so, whatever the database's default is. Under
	// SERIALIZABLE concurrent claims would fail with serialization errors.
	txOptions: &sql.TxOptions{Isolation: sql.LevelReadCommitted},
}

func openPostgres(ctx context.Context, dsn string) (Ledger, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadDSN, Redact(dsn), err)
	}
	db.SetMaxOpenConns(8)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to %s: %w", Redact(dsn), err)
	}
	return &pgLedger{&store{db: db, d: pgDialect, now: time.Now}}, nil
}

// pgV1 is the first schema, the same as SQLite's with PostgreSQL's types.
const pgV1 = `
CREATE TABLE identities (
	id TEXT PRIMARY KEY,
	seq BIGINT NOT NULL UNIQUE,
	row_json TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('available', 'claimed', 'provisioned', 'failed')),
	mac TEXT UNIQUE,
	chip TEXT NOT NULL DEFAULT '',
	station TEXT NOT NULL DEFAULT '',
	port TEXT NOT NULL DEFAULT '',
	claimed_at TIMESTAMPTZ,
	done_at TIMESTAMPTZ,
	image_sha256 TEXT NOT NULL DEFAULT '',
	image_md5 TEXT NOT NULL DEFAULT '',
	cert_sha256 TEXT NOT NULL DEFAULT '',
	cert_serial TEXT NOT NULL DEFAULT '',
	keys_sha256 TEXT NOT NULL DEFAULT '',
	verified BOOLEAN NOT NULL DEFAULT FALSE,
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
	seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at TIMESTAMPTZ NOT NULL,
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
CREATE FUNCTION nvskit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'events are append-only';
END
$$
--;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
	FOR EACH ROW EXECUTE FUNCTION nvskit_events_append_only()
--;
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
	FOR EACH STATEMENT EXECUTE FUNCTION nvskit_events_append_only()
`
