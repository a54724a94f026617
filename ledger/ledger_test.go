package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nvskit/nvskit/internal/testpg"
)

// backends runs fn against a fresh, initialised SQLite ledger and, when available, a fresh
// PostgreSQL one. open opens another handle on the same ledger (as another station would).
func backends(t *testing.T, fn func(t *testing.T, l Ledger, open func() Ledger)) {
	t.Run("sqlite", func(t *testing.T) {
		dsn := filepath.Join(t.TempDir(), "ledger.db")
		fn(t, initLedger(t, dsn), func() Ledger { return openLedger(t, dsn) })
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testpg.DSN(t)
		fn(t, initLedger(t, dsn), func() Ledger { return openLedger(t, dsn) })
	})
}

func initLedger(t testing.TB, dsn string) Ledger {
	t.Helper()
	l, err := OpenForInit(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if _, err := l.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return l
}

func openLedger(t testing.TB, dsn string) Ledger {
	t.Helper()
	l, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func serials(from, n int) []NewIdentity {
	var ids []NewIdentity
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("SN%06d", i)
		ids = append(ids, NewIdentity{ID: id, Row: Row{{"serial", id}, {"note", "row, \"quoted\""}}})
	}
	return ids
}

func mac(i int) string {
	return fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", i>>24&0xFF, i>>16&0xFF, i>>8&0xFF, i&0xFF)
}

func TestInitIsIdempotentAndRequired(t *testing.T) {
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "l.db")
	if _, err := Open(ctx, dsn); !errors.Is(err, ErrNotInitialised) {
		t.Fatalf("Open of a missing file: %v, want ErrNotInitialised", err)
	}
	l, err := OpenForInit(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Get(ctx, "x"); !errors.Is(err, ErrNotInitialised) {
		t.Fatalf("Get before Init: %v, want ErrNotInitialised", err)
	}
	v, err := l.Init(ctx)
	if err != nil || len(v) != 1 || v[0] != 1 {
		t.Fatalf("Init = %v, %v; want [1]", v, err)
	}
	// The ledger holds the VALUES rows: its owner's only.
	if st, err := os.Stat(dsn); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("ledger file mode: %v, %v; want 0600", st.Mode().Perm(), err)
	}
	if v, err := l.Init(ctx); err != nil || len(v) != 0 {
		t.Fatalf("second Init = %v, %v; want nothing applied", v, err)
	}
	// The settings that make claims safe: WAL, full sync, a busy timeout, immediate
	// transactions (a write lock from the start).
	s := l.(*sqliteLedger).store
	var jm string
	var sync, busy int
	if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&jm); err != nil || jm != "wal" {
		t.Errorf("journal_mode %q, %v; want wal", jm, err)
	}
	if err := s.db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Errorf("synchronous %d, %v; want 2 (FULL)", sync, err)
	}
	if err := s.db.QueryRow(`PRAGMA busy_timeout`).Scan(&busy); err != nil || busy != int(sqliteBusyTimeout.Milliseconds()) {
		t.Errorf("busy_timeout %d, %v", busy, err)
	}
	tx, err := s.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	o := other.(*sqliteLedger).store
	o.db.Exec(`PRAGMA busy_timeout = 0`)
	o.db.SetMaxOpenConns(1)
	o.db.Exec(`PRAGMA busy_timeout = 0`)
	if _, err := o.db.Exec(`INSERT INTO events (at, kind) VALUES ('x', 'x')`); err == nil {
		t.Error("another connection wrote while a transaction was open: transactions are not BEGIN IMMEDIATE")
	}
	tx.Rollback()
	other.Close()
	// A schema from a newer nvskit is refused.
	if _, err := s.db.Exec(`INSERT INTO nvskit_schema (version, applied_at) VALUES (99, 'x')`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Get(ctx, "x"); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Get on a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

func TestClaimLifecycle(t *testing.T) {
	backends(t, func(t *testing.T, l Ledger, _ func() Ledger) {
		ctx := context.Background()
		if err := l.Add(ctx, serials(1, 3), "values.csv"); err != nil {
			t.Fatal(err)
		}
		// All or nothing: one duplicate refuses the batch.
		if err := l.Add(ctx, append(serials(10, 2), serials(2, 1)...), ""); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("Add with a duplicate: %v", err)
		}
		if _, err := l.Get(ctx, "SN000010"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a refused batch left SN000010: %v", err)
		}
		a, err := l.Claim(ctx, ClaimRequest{MAC: "02-00-00-00-00-0A", Chip: "ESP32-S3", Station: "s1", Port: "p1"})
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != "SN000001" || a.State != Claimed || a.MAC != "02:00:00:00:00:0a" || a.Attempts != 1 {
			t.Fatalf("first claim = %+v", a)
		}
		if v, _ := a.Row.Get("note"); v != `row, "quoted"` {
			t.Fatalf("row = %v", a.Row)
		}
		b, err := l.Claim(ctx, ClaimRequest{MAC: "020000000b0b", Station: "s1", Port: "p2"})
		if err != nil || b.ID != "SN000002" {
			t.Fatalf("second claim = %+v, %v", b, err)
		}
		// The same chip again (after a crash) gets its own identity back.
		a2, err := l.Claim(ctx, ClaimRequest{MAC: "02:00:00:00:00:0a", Station: "s2", Port: "p9"})
		if err != nil || a2.ID != a.ID || a2.Attempts != 2 || a2.State != Claimed {
			t.Fatalf("reclaim = %+v, %v", a2, err)
		}
		// A result for another chip is refused.
		if err := l.Record(ctx, Result{ID: a.ID, MAC: mac(99), OK: true}); !errors.Is(err, ErrNotBound) {
			t.Fatalf("Record on the wrong MAC: %v", err)
		}
		if err := l.Record(ctx, Result{ID: a.ID, MAC: a.MAC, Station: "s2", Port: "p9", OK: true, ImageSHA256: "aa", CertSHA256: "cc", CertSerial: "01"}); err != nil {
			t.Fatal(err)
		}
		got, err := l.Get(ctx, "02:00:00:00:00:0A")
		if err != nil || got.ID != a.ID || got.State != Provisioned || !got.Verified || got.CertSHA256 != "cc" || got.DoneAt == nil || got.ClaimedAt == nil {
			t.Fatalf("after Record = %+v, %v", got, err)
		}
		// A provisioned chip coming back keeps its identity and its state.
		a3, err := l.Claim(ctx, ClaimRequest{MAC: a.MAC, Station: "s3", Port: "p1"})
		if err != nil || a3.ID != a.ID || a3.State != Provisioned || a3.Station != "s2" {
			t.Fatalf("reclaim of a provisioned chip = %+v, %v", a3, err)
		}
		// Failure, then release.
		if err := l.Record(ctx, Result{ID: b.ID, MAC: b.MAC, OK: false, Error: "MD5 mismatch"}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Release(ctx, a.ID, "op", false); !errors.Is(err, ErrState) {
			t.Fatalf("release of a provisioned identity: %v", err)
		}
		if _, err := l.Release(ctx, b.ID, "op", false); err != nil {
			t.Fatal(err)
		}
		if got, _ := l.Get(ctx, b.ID); got.State != Available || got.MAC != "" {
			t.Fatalf("released = %+v", got)
		}
		if _, err := l.Get(ctx, "02:00:00:00:0b:0b"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the released MAC still finds: %v", err)
		}
		// The released identity is the next one claimed (lowest seq first).
		c, err := l.Claim(ctx, ClaimRequest{MAC: mac(3)})
		if err != nil || c.ID != b.ID {
			t.Fatalf("claim after release = %+v, %v", c, err)
		}
		if _, err := l.Claim(ctx, ClaimRequest{MAC: mac(4)}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Claim(ctx, ClaimRequest{MAC: mac(5)}); !errors.Is(err, ErrExhausted) {
			t.Fatalf("claim with none left: %v", err)
		}
		st, err := l.Status(ctx, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if st.Total != 3 || st.ByState[Provisioned] != 1 || st.ByState[Claimed] != 2 || st.ByState[Available] != 0 {
			t.Fatalf("status = %+v", st)
		}
		evs, err := l.Events(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range evs {
			kinds = append(kinds, e.Kind)
		}
		if fmt.Sprint(kinds) != "[claim failed release claim]" {
			t.Fatalf("events of %s = %v", b.ID, kinds)
		}
	})
}

func TestEventsAreAppendOnly(t *testing.T) {
	backends(t, func(t *testing.T, l Ledger, _ func() Ledger) {
		ctx := context.Background()
		if err := l.Note(ctx, Event{Kind: "refused", MAC: mac(1), Detail: "wrong chip"}); err != nil {
			t.Fatal(err)
		}
		var s *store
		switch x := l.(type) {
		case *sqliteLedger:
			s = x.store
		case *pgLedger:
			s = x.store
		}
		if _, err := s.db.Exec(`UPDATE events SET kind = 'x'`); err == nil {
			t.Fatal("UPDATE of events succeeded")
		}
		if _, err := s.db.Exec(`DELETE FROM events`); err == nil {
			t.Fatal("DELETE of events succeeded")
		}
		if s.d == pgDialect {
			// Row triggers do not see TRUNCATE.
			if _, err := s.db.Exec(`TRUNCATE events`); err == nil {
				t.Fatal("TRUNCATE of events succeeded")
			}
		}
		if evs, err := l.Events(ctx, ""); err != nil || len(evs) != 1 {
			t.Fatalf("events after the refused changes: %v, %v", evs, err)
		}
	})
}

// TestConcurrentClaims: many stations, each with its own connection, claim at once; every
// identity goes to exactly one MAC and every MAC gets exactly one identity.
func TestConcurrentClaims(t *testing.T) {
	backends(t, func(t *testing.T, l Ledger, open func() Ledger) {
		ctx := context.Background()
		const stations, perStation = 8, 25
		if err := l.Add(ctx, serials(1, stations*perStation), ""); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		byID := map[string]string{}
		var wg sync.WaitGroup
		errs := make(chan error, stations)
		for s := range stations {
			h := open()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perStation {
					m := mac(s*1000 + i)
					id, err := h.Claim(ctx, ClaimRequest{MAC: m, Station: fmt.Sprint("s", s)})
					if err != nil {
						errs <- err
						return
					}
					// Every chip claims twice, as after a crash: same identity.
					again, err := h.Claim(ctx, ClaimRequest{MAC: m, Station: fmt.Sprint("s", s)})
					if err != nil || again.ID != id.ID {
						errs <- fmt.Errorf("reclaim of %s: %v, %v (first %s)", m, again, err, id.ID)
						return
					}
					mu.Lock()
					if prev, dup := byID[id.ID]; dup {
						errs <- fmt.Errorf("%s given to %s and %s", id.ID, prev, m)
					}
					byID[id.ID] = m
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(byID) != stations*perStation {
			t.Fatalf("%d identities claimed, want %d", len(byID), stations*perStation)
		}
		if _, err := l.Claim(ctx, ClaimRequest{MAC: mac(60000)}); !errors.Is(err, ErrExhausted) {
			t.Fatalf("claim after all: %v", err)
		}
	})
}

func TestParseMAC(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"02:00:00:00:00:01", "02:00:00:00:00:01"},
		{"24-0A-C4-12-34-56", "24:0a:c4:12:34:56"},
		{"240ac4123456", "24:0a:c4:12:34:56"},
		{"240ac41234", ""},
		{"zz:00:00:00:00:01", ""},
		{"00:00:00:00:00:00:00:01", ""},
	} {
		got, err := ParseMAC(tc.in)
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("ParseMAC(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@db/x":        "postgres://u:***@db/x",
		"postgresql://u@db/x":             "postgresql://u@db/x",
		"postgres:///x?host=/tmp":         "postgres:///x?host=/tmp",
		"ledger.db":                       "ledger.db",
		"postgres://u:p@ss@db:5432/x?a=b": "postgres://u:***@db:5432/x?a=b",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReleaseOfOnceProvisioned: an identity that was verified on its chip and then failed on
// it (the chip came back and a second write failed) may still be on that chip: releasing it
// without --force would silently let a second chip get it.
func TestReleaseOfOnceProvisioned(t *testing.T) {
	backends(t, func(t *testing.T, l Ledger, _ func() Ledger) {
		ctx := context.Background()
		if err := l.Add(ctx, serials(1, 2), ""); err != nil {
			t.Fatal(err)
		}
		a, err := l.Claim(ctx, ClaimRequest{MAC: mac(1)})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Record(ctx, Result{ID: a.ID, MAC: a.MAC, OK: true, ImageSHA256: "aa", CertSHA256: "cc"}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Claim(ctx, ClaimRequest{MAC: mac(1)}); err != nil {
			t.Fatal(err)
		}
		if err := l.Record(ctx, Result{ID: a.ID, MAC: a.MAC, OK: false, Error: "write failed"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := l.Get(ctx, a.ID); got.State != Failed {
			t.Fatalf("state %s, want failed", got.State)
		}
		if _, err := l.Release(ctx, a.ID, "op", false); !errors.Is(err, ErrState) {
			t.Fatalf("release of a once-provisioned failed identity without force: %v", err)
		}
		if got, _ := l.Get(ctx, a.ID); got.MAC != a.MAC || got.State != Failed {
			t.Fatalf("after the refused release: %+v", got)
		}
		if _, err := l.Release(ctx, a.ID, "op", true); err != nil {
			t.Fatalf("forced: %v", err)
		}
		// A chip that never was provisioned, released after a failure, then gets the
		// identity back in a later claim: force is not needed for it (its events have no
		// provisioned on the MAC it is bound to now).
		b, err := l.Claim(ctx, ClaimRequest{MAC: mac(2)})
		if err != nil || b.ID != a.ID {
			t.Fatalf("claim after release = %+v, %v", b, err)
		}
		if err := l.Record(ctx, Result{ID: b.ID, MAC: b.MAC, OK: false, Error: "verify failed"}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Release(ctx, b.ID, "op", false); err != nil {
			t.Fatalf("release of a never-provisioned failed identity: %v", err)
		}
	})
}

// TestConcurrentClaimsOfOneMAC: stations that see the same MAC at the same moment (a chip
// moved between jigs, two stations racing) all get the same identity, and only one is bound.
func TestConcurrentClaimsOfOneMAC(t *testing.T) {
	backends(t, func(t *testing.T, l Ledger, open func() Ledger) {
		ctx := context.Background()
		const stations, rounds = 8, 10
		if err := l.Add(ctx, serials(1, rounds+1), ""); err != nil {
			t.Fatal(err)
		}
		hs := make([]Ledger, stations)
		for i := range hs {
			hs[i] = open()
		}
		for r := range rounds {
			m := mac(7000 + r)
			got := make([]string, stations)
			errs := make([]error, stations)
			var wg sync.WaitGroup
			for i, h := range hs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id, err := h.Claim(ctx, ClaimRequest{MAC: m, Station: fmt.Sprint("s", i)})
					if err == nil {
						got[i] = id.ID
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			for i := range hs {
				if errs[i] != nil {
					t.Fatalf("round %d, station %d: %v", r, i, errs[i])
				}
				if got[i] != got[0] {
					t.Fatalf("round %d: %s got %s, station 0 got %s", r, m, got[i], got[0])
				}
			}
		}
		st, err := l.Status(ctx, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if st.ByState[Claimed] != rounds || st.ByState[Available] != 1 {
			t.Fatalf("status %+v", st.ByState)
		}
	})
}

// TestClaimsUnderSerializableDefault: a database whose default isolation is SERIALIZABLE (a
// DBA's choice) still serves concurrent claims: the claim's locking is READ COMMITTED's, and
// the claim says so rather than inheriting the default.
func TestClaimsUnderSerializableDefault(t *testing.T) {
	dsn := testpg.DSN(t)
	l := initLedger(t, dsn)
	ctx := context.Background()
	s := l.(*pgLedger).store
	var name string
	if err := s.db.QueryRowContext(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `ALTER DATABASE "`+name+`" SET default_transaction_isolation = 'serializable'`); err != nil {
		t.Fatal(err)
	}
	const stations, perStation = 8, 20
	if err := l.Add(ctx, serials(1, stations*perStation), ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, stations)
	for st := range stations {
		h := openLedger(t, dsn)
		var iso string
		if err := h.(*pgLedger).db.QueryRowContext(ctx, `SHOW default_transaction_isolation`).Scan(&iso); err != nil || iso != "serializable" {
			t.Fatalf("default isolation %q, %v", iso, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perStation {
				if _, err := h.Claim(ctx, ClaimRequest{MAC: mac(st*1000 + i)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestClaimWaitsForLockedIdentities: on PostgreSQL, SKIP LOCKED skips identities other
// transactions hold; while they do, a claim waits (up to a bound) instead of reporting the
// ledger exhausted, and gets the identity when the lock goes.
func TestClaimWaitsForLockedIdentities(t *testing.T) {
	l := initLedger(t, testpg.DSN(t))
	ctx := context.Background()
	if err := l.Add(ctx, serials(1, 1), ""); err != nil {
		t.Fatal(err)
	}
	s := l.(*pgLedger).store
	defer func(d time.Duration) { claimLockWait = d }(claimLockWait)
	claimLockWait = 300 * time.Millisecond
	lock := func() *sql.Tx {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `SELECT id FROM identities WHERE state = 'available' FOR UPDATE`); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	// Held past the bound: an error, but not "exhausted".
	tx := lock()
	if _, err := l.Claim(ctx, ClaimRequest{MAC: mac(1)}); err == nil || errors.Is(err, ErrExhausted) {
		t.Fatalf("claim while the only identity is locked: %v; want an error other than ErrExhausted", err)
	}
	tx.Rollback()
	// Released within the bound: the claim gets it.
	tx = lock()
	go func() {
		time.Sleep(100 * time.Millisecond)
		tx.Rollback()
	}()
	id, err := l.Claim(ctx, ClaimRequest{MAC: mac(1)})
	if err != nil || id.ID != "SN000001" {
		t.Fatalf("claim after the lock went: %+v, %v", id, err)
	}
	if _, err := l.Claim(ctx, ClaimRequest{MAC: mac(2)}); !errors.Is(err, ErrExhausted) {
		t.Fatalf("claim with none left: %v", err)
	}
}
