package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// dialect is what differs between the SQL databases; the queries are otherwise the same
// ($1-style parameters work in both).
type dialect struct {
	name string
	// migrations[i] brings the schema from version i to i+1.
	migrations []string
	// forUpdate is appended to the SELECT of a claim: row locks that other claims skip.
	forUpdate, forUpdateSkip string
	// lockAdd serialises concurrent Add calls (empty: the transaction already does).
	lockAdd string
	// time converts a time to the parameter the database stores.
	time func(time.Time) any
	// unique reports a unique-constraint violation.
	unique func(error) bool
	// txOptions are the options of every transaction (nil: the database's default).
	txOptions *sql.TxOptions
}

// store is the Ledger over database/sql that both implementations share.
type store struct {
	db *sql.DB
	d  *dialect
	// now returns the current time; tests may set it.
	now func() time.Time
}

// begin starts a transaction with the dialect's options.
func (s *store) begin(ctx context.Context) (*sql.Tx, error) {
	return s.db.BeginTx(ctx, s.d.txOptions)
}

// schemaVersion is the version the migrations bring a ledger to.
func (s *store) schemaVersion() int { return len(s.d.migrations) }

const timeLayout = "2006-01-02T15:04:05.000000Z"

func sqliteTime(t time.Time) any { return t.UTC().Format(timeLayout) }

// dbTime scans a time stored as a timestamp (PostgreSQL) or as text (SQLite).
type dbTime struct{ t *time.Time }

func (d dbTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		t := x.UTC()
		*d.t = t
		return nil
	case string:
		return d.parse(x)
	case []byte:
		return d.parse(string(x))
	}
	return fmt.Errorf("time column holds %T", v)
}

func (d dbTime) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*d.t = t.UTC()
	return nil
}

// nullTime scans a nullable time into a *time.Time field.
type nullTime struct{ p **time.Time }

func (n nullTime) Scan(v any) error {
	if v == nil {
		*n.p = nil
		return nil
	}
	var t time.Time
	if err := (dbTime{&t}).Scan(v); err != nil {
		return err
	}
	*n.p = &t
	return nil
}

// version returns the schema version, 0 when the ledger has none.
func (s *store) version(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM nvskit_schema`).Scan(&v)
	if err != nil {
		if s.noTable(err) {
			return 0, nil
		}
		return 0, err
	}
	return int(v.Int64), nil
}

func (s *store) noTable(err error) bool {
	m := err.Error()
	return strings.Contains(m, "no such table") || strings.Contains(m, "does not exist")
}

// check refuses a ledger whose schema is missing or not the one this code knows.
func (s *store) check(ctx context.Context) error {
	v, err := s.version(ctx)
	if err != nil {
		return err
	}
	switch {
	case v == 0:
		return ErrNotInitialised
	case v > s.schemaVersion():
		return fmt.Errorf("%w (version %d, this nvskit knows %d): use a newer nvskit", ErrSchemaTooNew, v, s.schemaVersion())
	case v < s.schemaVersion():
		return fmt.Errorf("the ledger's schema is version %d, this nvskit needs %d: run nvskit ledger init to migrate it", v, s.schemaVersion())
	}
	return nil
}

// Init applies the migrations the ledger lacks, each in its own transaction.
func (s *store) Init(ctx context.Context) ([]int, error) {
	var applied []int
	for {
		tx, err := s.begin(ctx)
		if err != nil {
			return applied, err
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS nvskit_schema (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
			tx.Rollback()
			return applied, fmt.Errorf("creating the schema table: %w", err)
		}
		var v sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM nvskit_schema`).Scan(&v); err != nil {
			tx.Rollback()
			return applied, err
		}
		cur := int(v.Int64)
		if cur > s.schemaVersion() {
			tx.Rollback()
			return applied, fmt.Errorf("%w (version %d, this nvskit knows %d): use a newer nvskit", ErrSchemaTooNew, cur, s.schemaVersion())
		}
		if cur == s.schemaVersion() {
			return applied, tx.Commit()
		}
		for _, stmt := range splitSQL(s.d.migrations[cur]) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return applied, fmt.Errorf("migration %d: %w", cur+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO nvskit_schema (version, applied_at) VALUES ($1, $2)`,
			cur+1, s.now().UTC().Format(timeLayout)); err != nil {
			tx.Rollback()
			if s.d.unique(err) {
				continue // another process migrated at the same time
			}
			return applied, err
		}
		if err := tx.Commit(); err != nil {
			return applied, err
		}
		applied = append(applied, cur+1)
	}
}

// splitSQL splits a migration at lines holding only "--;".
func splitSQL(m string) []string {
	var out []string
	for _, p := range strings.Split(m, "\n--;\n") {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out
}

const addBatch = 200

// Add adds identities as available, all or none.
func (s *store) Add(ctx context.Context, ids []NewIdentity, source string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.d.lockAdd != "" {
		if _, err := tx.ExecContext(ctx, s.d.lockAdd); err != nil {
			return err
		}
	}
	var next sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(seq) FROM identities`).Scan(&next); err != nil {
		return err
	}
	seq := next.Int64
	for i := 0; i < len(ids); i += addBatch {
		batch := ids[i:min(len(ids), i+addBatch)]
		var q strings.Builder
		q.WriteString(`INSERT INTO identities (id, seq, row_json, state) VALUES `)
		args := make([]any, 0, 3*len(batch))
		for j, id := range batch {
			if j > 0 {
				q.WriteByte(',')
			}
			seq++
			rj, _ := json.Marshal(id.Row)
			n := len(args)
			fmt.Fprintf(&q, "($%d,$%d,$%d,'available')", n+1, n+2, n+3)
			args = append(args, id.ID, seq, string(rj))
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			if s.d.unique(err) {
				return s.duplicate(ctx, tx, batch)
			}
			return fmt.Errorf("adding identities: %w", err)
		}
	}
	first, last := ids[0].ID, ids[len(ids)-1].ID
	detail := fmt.Sprintf("%d identities (%s to %s)", len(ids), first, last)
	if source != "" {
		detail += " from " + source
	}
	if err := s.event(ctx, tx, Event{Kind: "import", Detail: detail}); err != nil {
		return err
	}
	return tx.Commit()
}

// duplicate names the first id of batch that exists already (or repeats within it).
func (s *store) duplicate(ctx context.Context, tx *sql.Tx, batch []NewIdentity) error {
	seen := map[string]bool{}
	for _, id := range batch {
		if seen[id.ID] {
			return fmt.Errorf("%w: %q is given twice", ErrDuplicate, id.ID)
		}
		seen[id.ID] = true
	}
	// The failed statement aborted a PostgreSQL transaction: ask outside it.
	for _, id := range batch {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM identities WHERE id = $1`, id.ID).Scan(&n); err == nil && n > 0 {
			return fmt.Errorf("%w: %q", ErrDuplicate, id.ID)
		}
	}
	return ErrDuplicate
}

func (s *store) event(ctx context.Context, tx *sql.Tx, ev Event) error {
	if ev.At.IsZero() {
		ev.At = s.now()
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO events (at, kind, identity, mac, station, port, detail) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		s.d.time(ev.At), ev.Kind, ev.Identity, ev.MAC, ev.Station, ev.Port, ev.Detail)
	if err != nil {
		return fmt.Errorf("recording the event: %w", err)
	}
	return nil
}

const identityCols = `id, seq, row_json, state, mac, chip, station, port, claimed_at, done_at,
	image_sha256, image_md5, cert_sha256, cert_serial, keys_sha256, verified, attempts, error`

type rowScanner interface{ Scan(...any) error }

func scanIdentity(r rowScanner) (*Identity, error) {
	var id Identity
	var rj string
	var mac sql.NullString
	var state string
	err := r.Scan(&id.ID, &id.Seq, &rj, &state, &mac, &id.Chip, &id.Station, &id.Port,
		nullTime{&id.ClaimedAt}, nullTime{&id.DoneAt}, &id.ImageSHA256, &id.ImageMD5, &id.CertSHA256,
		&id.CertSerial, &id.KeysSHA256, &id.Verified, &id.Attempts, &id.Error)
	if err != nil {
		return nil, err
	}
	id.State, id.MAC = State(state), mac.String
	if err := json.Unmarshal([]byte(rj), &id.Row); err != nil {
		return nil, fmt.Errorf("identity %q: stored row: %w", id.ID, err)
	}
	return &id, nil
}

// Claim binds an identity to the chip, or returns the one bound to it.
func (s *store) Claim(ctx context.Context, req ClaimRequest) (*Identity, error) {
	mac, err := ParseMAC(req.MAC)
	if err != nil {
		return nil, err
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	unique := 0
	deadline := time.Now().Add(claimLockWait)
	for wait := time.Millisecond; ; {
		id, err := s.claimOnce(ctx, mac, req)
		switch {
		case err != nil && s.d.unique(err) && unique < 3:
			// Another station bound this MAC at the same moment: its identity is ours.
			unique++
			continue
		case errors.Is(err, errAllLocked) && time.Now().Before(deadline):
			// Every available identity is being claimed by another station right now: one
			// of them may roll back, or this MAC may be one of those claims. Not exhausted
			// yet; ask again when they are done. (Past the deadline the caller gets the
			// error, not ErrExhausted, and decides: a station tries the device again.)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
			wait = min(2*wait, 50*time.Millisecond)
			continue
		}
		return id, err
	}
}

// claimLockWait bounds how long a claim waits for the claims in progress that hold every
// available identity locked (they take milliseconds; a lock held longer is not a claim's).
var claimLockWait = 10 * time.Second

// errAllLocked: no available identity could be locked, but some exist, locked by claims in
// progress.
var errAllLocked = errors.New("every available identity is locked by another claim")

func (s *store) claimOnce(ctx context.Context, mac string, req ClaimRequest) (*Identity, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := s.now()
	id, err := scanIdentity(tx.QueryRowContext(ctx, `SELECT `+identityCols+` FROM identities WHERE mac = $1`+s.d.forUpdate, mac))
	switch {
	case err == nil:
		// A chip seen before gets its own identity back.
		// A provisioned one keeps the station and port it was provisioned on.
		id.Attempts++
		if id.State != Provisioned {
			id.State = Claimed
			id.Station, id.Port = req.Station, req.Port
		}
		if _, err := tx.ExecContext(ctx, `UPDATE identities SET state = $1, station = $2, port = $3, attempts = $4 WHERE id = $5`,
			string(id.State), id.Station, id.Port, id.Attempts, id.ID); err != nil {
			return nil, err
		}
		if err := s.event(ctx, tx, Event{At: now, Kind: "reclaim", Identity: id.ID, MAC: mac, Station: req.Station, Port: req.Port,
			Detail: fmt.Sprintf("attempt %d; %s", id.Attempts, id.State)}); err != nil {
			return nil, err
		}
		return id, tx.Commit()
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	id, err = scanIdentity(tx.QueryRowContext(ctx, `SELECT `+identityCols+` FROM identities WHERE state = 'available' ORDER BY seq LIMIT 1`+s.d.forUpdateSkip))
	if errors.Is(err, sql.ErrNoRows) {
		if s.d.forUpdateSkip != "" {
			// SKIP LOCKED also skips the identities other claims hold locked right now: only
			// when none is available at all is the ledger exhausted.
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM identities WHERE state = 'available' LIMIT 1) x`).Scan(&n); err != nil {
				return nil, err
			}
			if n > 0 {
				return nil, errAllLocked
			}
		}
		return nil, ErrExhausted
	}
	if err != nil {
		return nil, err
	}
	id.State, id.MAC, id.Chip, id.Station, id.Port, id.Attempts = Claimed, mac, req.Chip, req.Station, req.Port, 1
	t := now.UTC()
	id.ClaimedAt = &t
	res, err := tx.ExecContext(ctx, `UPDATE identities SET state = 'claimed', mac = $1, chip = $2, station = $3, port = $4,
		claimed_at = $5, attempts = 1 WHERE id = $6 AND state = 'available'`,
		mac, req.Chip, req.Station, req.Port, s.d.time(now), id.ID)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, fmt.Errorf("identity %q was taken by another claim", id.ID)
	}
	if err := s.event(ctx, tx, Event{At: now, Kind: "claim", Identity: id.ID, MAC: mac, Station: req.Station, Port: req.Port, Detail: req.Chip}); err != nil {
		return nil, err
	}
	return id, tx.Commit()
}

// Record stores the outcome of an attempt.
func (s *store) Record(ctx context.Context, r Result) error {
	mac, err := ParseMAC(r.MAC)
	if err != nil {
		return err
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := s.now()
	var res sql.Result
	kind := "provisioned"
	if r.OK {
		res, err = tx.ExecContext(ctx, `UPDATE identities SET state = 'provisioned', done_at = $1, image_sha256 = $2, image_md5 = $3,
			cert_sha256 = $4, cert_serial = $5, keys_sha256 = $6, verified = $7, error = '', station = $8, port = $9
			WHERE id = $10 AND mac = $11`,
			s.d.time(now), r.ImageSHA256, r.ImageMD5, r.CertSHA256, r.CertSerial, r.KeysSHA256, true, r.Station, r.Port, r.ID, mac)
	} else {
		kind = "failed"
		res, err = tx.ExecContext(ctx, `UPDATE identities SET state = 'failed', done_at = $1, verified = $2, error = $3, station = $4, port = $5
			WHERE id = $6 AND mac = $7`,
			s.d.time(now), false, r.Error, r.Station, r.Port, r.ID, mac)
	}
	if err != nil {
		return fmt.Errorf("recording %s: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%s on %s: %w", r.ID, mac, ErrNotBound)
	}
	detail, _ := json.Marshal(map[string]any{"image_sha256": r.ImageSHA256, "cert_sha256": r.CertSHA256,
		"cert_serial": r.CertSerial, "keys_sha256": r.KeysSHA256, "verified": r.OK, "error": r.Error})
	if err := s.event(ctx, tx, Event{At: now, Kind: kind, Identity: r.ID, MAC: mac, Station: r.Station, Port: r.Port, Detail: string(detail)}); err != nil {
		return err
	}
	return tx.Commit()
}

// Note appends an event.
func (s *store) Note(ctx context.Context, ev Event) error {
	if ev.MAC != "" {
		m, err := ParseMAC(ev.MAC)
		if err != nil {
			return err
		}
		ev.MAC = m
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.event(ctx, tx, ev); err != nil {
		return err
	}
	return tx.Commit()
}

// Release returns an identity to the pool.
func (s *store) Release(ctx context.Context, key, station string, force bool) (*Identity, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	id, err := scanIdentity(tx.QueryRowContext(ctx, `SELECT `+identityCols+` FROM identities WHERE id = $1`+s.d.forUpdate, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case id.State == Available:
		return nil, fmt.Errorf("%q is available already: %w", key, ErrState)
	case id.State == Failed && !force:
		// A failed identity that was verified on this chip before (the chip came back and
		// a later attempt failed) may still be on it: releasing it would let a second chip
		// get it without anyone having said that the first is gone.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE identity = $1 AND mac = $2 AND kind = 'provisioned'`,
			id.ID, id.MAC).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, fmt.Errorf("%q failed on %s, but was provisioned on it before and may still be on it: %w; release it with force only when that chip is scrapped or erased",
				key, id.MAC, ErrState)
		}
	case id.State == Failed:
	case !force:
		return nil, fmt.Errorf("%q is %s on %s: %w; only a failed identity is released, unless forced (and then the chip must be scrapped or erased, or two chips share the identity)",
			key, id.State, id.MAC, ErrState)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE identities SET state = 'available', mac = NULL, chip = '', station = '', port = '',
		claimed_at = NULL, done_at = NULL, image_sha256 = '', image_md5 = '', cert_sha256 = '', cert_serial = '', keys_sha256 = '',
		verified = $1, attempts = 0, error = '' WHERE id = $2`, false, id.ID); err != nil {
		return nil, err
	}
	if err := s.event(ctx, tx, Event{Kind: "release", Identity: id.ID, MAC: id.MAC, Station: station,
		Detail: fmt.Sprintf("was %s on %s (%s)", id.State, id.MAC, id.Chip)}); err != nil {
		return nil, err
	}
	return id, tx.Commit()
}

// Get returns an identity by id or MAC.
func (s *store) Get(ctx context.Context, key string) (*Identity, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	id, err := scanIdentity(s.db.QueryRowContext(ctx, `SELECT `+identityCols+` FROM identities WHERE id = $1`, key))
	if errors.Is(err, sql.ErrNoRows) {
		if mac, merr := ParseMAC(key); merr == nil {
			id, err = scanIdentity(s.db.QueryRowContext(ctx, `SELECT `+identityCols+` FROM identities WHERE mac = $1`, mac))
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%q: %w", key, ErrNotFound)
	}
	return id, err
}

// Events returns events, oldest first.
func (s *store) Events(ctx context.Context, id string) ([]Event, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	q := `SELECT seq, at, kind, identity, mac, station, port, detail FROM events`
	var args []any
	if id != "" {
		q += ` WHERE identity = $1`
		args = append(args, id)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY seq`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.Seq, dbTime{&e.At}, &e.Kind, &e.Identity, &e.MAC, &e.Station, &e.Port, &e.Detail); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Status counts identities.
func (s *store) Status(ctx context.Context, since time.Time) (*Status, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	st := &Status{ByState: map[State]int{}, Since: since.UTC()}
	for _, x := range States {
		st.ByState[x] = 0
	}
	rows, err := s.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM identities GROUP BY state`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			rows.Close()
			return nil, err
		}
		st.ByState[State(k)] = n
		st.Total += n
	}
	rows.Close()
	hours := max(s.now().Sub(since).Hours(), 1.0/3600)
	rows, err = s.db.QueryContext(ctx, `SELECT station,
		SUM(CASE WHEN state = 'claimed' THEN 1 ELSE 0 END),
		SUM(CASE WHEN state = 'provisioned' THEN 1 ELSE 0 END),
		SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END),
		SUM(CASE WHEN state = 'provisioned' AND done_at >= $1 THEN 1 ELSE 0 END)
		FROM identities WHERE state <> 'available' GROUP BY station ORDER BY station`, s.d.time(since))
	if err != nil {
		return nil, err
	}
	recent := 0
	for rows.Next() {
		var ss StationStatus
		var r int
		if err := rows.Scan(&ss.Station, &ss.Claimed, &ss.Provisioned, &ss.Failed, &r); err != nil {
			rows.Close()
			return nil, err
		}
		ss.Rate = float64(r) / hours
		recent += r
		st.Stations = append(st.Stations, ss)
	}
	rows.Close()
	st.Rate = float64(recent) / hours
	var last *time.Time
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(done_at) FROM identities WHERE state = 'provisioned'`).Scan(nullTime{&last}); err != nil {
		return nil, err
	}
	st.LastProvisioned = last
	return st, nil
}

// Each calls fn for every identity in Seq order.
func (s *store) Each(ctx context.Context, fn func(*Identity) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+identityCols+` FROM identities ORDER BY seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		id, err := scanIdentity(rows)
		if err != nil {
			return err
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Close closes the database.
func (s *store) Close() error { return s.db.Close() }
