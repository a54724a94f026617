package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// State is where an identity is in its life.
type State string

// The states of an identity.
const (
	// Available: imported, not yet bound to a chip.
	Available State = "available"
	// Claimed: bound to a chip's MAC, the image not yet recorded as written and verified.
	Claimed State = "claimed"
	// Provisioned: written to the chip and verified.
	Provisioned State = "provisioned"
	// Failed: the last attempt on the chip failed; the identity stays bound to it, so the
	// same chip gets it back, until an operator releases it.
	Failed State = "failed"
)

// States lists the states in their natural order.
var States = []State{Available, Claimed, Provisioned, Failed}

// Errors a caller may branch on.
var (
	// ErrNotInitialised: the ledger has no schema yet (run Init).
	ErrNotInitialised = errors.New("the ledger is not initialised (run nvskit ledger init)")
	// ErrSchemaTooNew: the ledger was migrated by a newer nvskit.
	ErrSchemaTooNew = errors.New("the ledger's schema is newer than this nvskit knows")
	// ErrExhausted: no identity is available to claim.
	ErrExhausted = errors.New("no identity is available")
	// ErrNotFound: no identity has that id or MAC.
	ErrNotFound = errors.New("no such identity")
	// ErrDuplicate: an identity with that id exists already.
	ErrDuplicate = errors.New("the identity exists already")
	// ErrNotBound: a result was recorded for an identity that is not bound to that MAC.
	ErrNotBound = errors.New("the identity is not bound to that chip")
	// ErrState: the identity is not in a state that allows the operation.
	ErrState = errors.New("the identity's state does not allow it")
	// ErrBadDSN: the --db value is neither a postgres:// URL nor a usable file path.
	ErrBadDSN = errors.New("bad ledger address")
	// ErrForeignDatabase: the SQLite file is another program's database (it has tables and
	// no ledger schema); Init adds no tables to it.
	ErrForeignDatabase = errors.New("is a SQLite database of another program, not an nvskit ledger")
)

// Field is one column of an identity's VALUES.csv row.
type Field struct {
	Key, Value string
}

// Row is an identity's VALUES.csv row, in column order.
type Row []Field

// Get returns the value of the column key.
func (r Row) Get(key string) (string, bool) {
	for _, f := range r {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// MarshalJSON writes the row as a JSON object whose keys keep the column order.
func (r Row) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range r {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.Key)
		v, _ := json.Marshal(f.Value)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a JSON object of strings, keeping the key order.
func (r *Row) UnmarshalJSON(data []byte) error {
	d := json.NewDecoder(bytes.NewReader(data))
	t, err := d.Token()
	if err != nil {
		return err
	}
	if t != json.Delim('{') {
		return errors.New("row: not a JSON object")
	}
	var out Row
	for d.More() {
		kt, err := d.Token()
		if err != nil {
			return err
		}
		var v string
		if err := d.Decode(&v); err != nil {
			return fmt.Errorf("row: column %v: %w", kt, err)
		}
		out = append(out, Field{Key: kt.(string), Value: v})
	}
	*r = out
	return nil
}

// Identity is one device identity and, once bound, the chip it went to.
type Identity struct {
	// ID is the file id (the --fileid column's value, or a serial).
	ID string `json:"id"`
	// Seq orders the identities as imported; claims take the lowest available first.
	Seq int64 `json:"seq"`
	// Row is the VALUES.csv row the identity was imported from.
	Row Row `json:"row"`
	// State is where the identity is.
	State State `json:"state"`
	// MAC is the base MAC of the chip the identity is bound to, lower case with colons; empty
	// while available.
	MAC string `json:"mac"`
	// Chip is the chip type, e.g. "ESP32-S3".
	Chip string `json:"chip,omitempty"`
	// Station and Port are where it was last claimed.
	Station string `json:"station,omitempty"`
	Port    string `json:"port,omitempty"`
	// ClaimedAt is when it was bound to the chip, DoneAt when the last result was recorded.
	ClaimedAt *time.Time `json:"claimed_at,omitempty"`
	DoneAt    *time.Time `json:"done_at,omitempty"`
	// ImageSHA256 and ImageMD5 are the hex digests of the NVS image written.
	ImageSHA256 string `json:"image_sha256,omitempty"`
	ImageMD5    string `json:"image_md5,omitempty"`
	// CertSHA256 is the SHA-256 fingerprint (hex) of the device certificate's DER, CertSerial
	// its serial number (hex).
	CertSHA256 string `json:"cert_sha256,omitempty"`
	CertSerial string `json:"cert_serial,omitempty"`
	// KeysSHA256 is the SHA-256 (hex) of the NVS keys partition image, when the image is
	// encrypted.
	KeysSHA256 string `json:"keys_sha256,omitempty"`
	// Verified reports that the chip's digest of what was written matched the image.
	Verified bool `json:"verified"`
	// Attempts counts the claims of the identity by its chip.
	Attempts int `json:"attempts"`
	// Error is why the last attempt failed.
	Error string `json:"error,omitempty"`
}

// Event is one entry of the append-only event table.
type Event struct {
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"` // import, claim, reclaim, provisioned, failed, verified, refused, release
	Identity string    `json:"id,omitempty"`
	MAC      string    `json:"mac,omitempty"`
	Station  string    `json:"station,omitempty"`
	Port     string    `json:"port,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}

// ClaimRequest describes the chip a station asks an identity for.
type ClaimRequest struct {
	MAC     string // any form ParseMAC accepts
	Chip    string
	Station string
	Port    string
}

// Result is the outcome of one attempt on a chip, recorded against its identity.
type Result struct {
	ID, MAC, Station, Port string
	// OK reports that the image was written and verified; otherwise Error says why not.
	OK    bool
	Error string
	// The digests of what was written (hex).
	ImageSHA256, ImageMD5, CertSHA256, CertSerial, KeysSHA256 string
}

// Status counts the identities.
type Status struct {
	// ByState counts identities per state (every state present, zero included).
	ByState map[State]int `json:"by_state"`
	// Total is the number of identities.
	Total int `json:"total"`
	// Stations counts, per station, the identities provisioned and failed there.
	Stations []StationStatus `json:"stations"`
	// Since is the start of the rate window; Rate is the devices provisioned per hour in it.
	Since time.Time `json:"since"`
	Rate  float64   `json:"per_hour"`
	// LastProvisioned is when the last device was provisioned, if any.
	LastProvisioned *time.Time `json:"last_provisioned,omitempty"`
}

// StationStatus is one station's part of a Status.
type StationStatus struct {
	Station     string  `json:"station"`
	Claimed     int     `json:"claimed"`
	Provisioned int     `json:"provisioned"`
	Failed      int     `json:"failed"`
	Rate        float64 `json:"per_hour"`
}

// Ledger is a factory ledger. Implementations are safe for concurrent use.
type Ledger interface {
	// Init creates or migrates the schema and returns the versions it applied.
	Init(ctx context.Context) ([]int, error)
	// Add adds identities as available, in order, all or none: an id that exists already
	// fails the whole call with ErrDuplicate.
	Add(ctx context.Context, ids []NewIdentity, source string) error
	// Claim returns the identity bound to the chip's MAC, or binds the next available one to
	// it, in one transaction, and records the event. A failed identity is claimed again.
	// ErrExhausted when none is left.
	Claim(ctx context.Context, req ClaimRequest) (*Identity, error)
	// Record stores the outcome of an attempt: provisioned when OK, failed otherwise.
	Record(ctx context.Context, res Result) error
	// Note appends an event that changes no identity (a refused chip, a verification).
	Note(ctx context.Context, ev Event) error
	// Release returns a failed identity to the available pool, unbinding its MAC (a claimed
	// or provisioned one too with force, for a chip that is gone). A failed identity that was
	// provisioned on its chip before needs force too: it may still be on that chip. The
	// events keep the old binding.
	Release(ctx context.Context, id, station string, force bool) (*Identity, error)
	// Get returns the identity with the id, or bound to the MAC.
	Get(ctx context.Context, idOrMAC string) (*Identity, error)
	// Events returns the events of one identity (or all with id ""), oldest first.
	Events(ctx context.Context, id string) ([]Event, error)
	// Status counts identities by state and station, with the rate since since.
	Status(ctx context.Context, since time.Time) (*Status, error)
	// Each calls fn for every identity in Seq order.
	Each(ctx context.Context, fn func(*Identity) error) error
	// Close closes the database.
	Close() error
}

// NewIdentity is an identity to add.
type NewIdentity struct {
	ID  string
	Row Row
}

// ParseMAC parses a MAC address (colons, dashes or none) and returns it lower case with
// colons, the form the ledger stores.
func ParseMAC(s string) (string, error) {
	t := strings.TrimSpace(s)
	if len(t) == 12 && !strings.ContainsAny(t, ":-.") {
		var b strings.Builder
		for i := 0; i < 12; i += 2 {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(t[i : i+2])
		}
		t = b.String()
	}
	hw, err := net.ParseMAC(t)
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("%q is not a MAC address (6 bytes, e.g. 24:0a:c4:12:34:56)", s)
	}
	return hw.String(), nil
}

// IsPostgres reports whether dsn names a PostgreSQL database (a postgres:// or postgresql://
// URL) rather than a SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// DefaultPath is the SQLite file used when no DSN is given.
const DefaultPath = "nvskit-ledger.db"

// Open opens the ledger at dsn: a PostgreSQL URL, or the path of a SQLite file (created by
// Init when missing; other methods refuse a file that does not exist).
func Open(ctx context.Context, dsn string) (Ledger, error) {
	if dsn == "" {
		dsn = DefaultPath
	}
	if IsPostgres(dsn) {
		return openPostgres(ctx, dsn)
	}
	return openSQLite(ctx, dsn, false)
}

// OpenForInit is Open, but creates a missing SQLite file (for Init).
func OpenForInit(ctx context.Context, dsn string) (Ledger, error) {
	if dsn == "" {
		dsn = DefaultPath
	}
	if IsPostgres(dsn) {
		return openPostgres(ctx, dsn)
	}
	return openSQLite(ctx, dsn, true)
}

// Redact returns dsn with any password removed, for messages.
func Redact(dsn string) string {
	if !IsPostgres(dsn) {
		return dsn
	}
	i := strings.Index(dsn, "://")
	rest := dsn[i+3:]
	at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@")
	if at < 0 {
		return dsn
	}
	cred := rest[:at]
	if c := strings.IndexByte(cred, ':'); c >= 0 {
		cred = cred[:c] + ":***"
	}
	return dsn[:i+3] + cred + rest[at:]
}
