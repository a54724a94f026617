//go:build !nofactory

package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/ledger"
	"github.com/nvskit/nvskit/mfg"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/nvscsv"
)

// dbFlag is the --db flag of the ledger and station commands.
type dbFlag struct{ flag string }

// register adds --db. $NVSKIT_DB is read when the command runs, not made the flag's default:
// cobra prints a default in --help, and a postgres:// URL holds a password.
func (f *dbFlag) register(c *cobra.Command) {
	c.Flags().StringVar(&f.flag, "db", "", "the ledger: a SQLite file, or a postgres:// URL (default $NVSKIT_DB, else "+ledger.DefaultPath+")")
}

// dsn is --db, else $NVSKIT_DB, else the default SQLite file.
func (f *dbFlag) dsn() string {
	if f.flag != "" {
		return f.flag
	}
	if v := os.Getenv("NVSKIT_DB"); v != "" {
		return v
	}
	return ledger.DefaultPath
}

func (f *dbFlag) path(env *Env) string {
	dsn := f.dsn()
	if ledger.IsPostgres(dsn) {
		return dsn
	}
	return env.Path(dsn)
}

// open opens the ledger, with the run's context (which Ctrl-C cancels).
func (f *dbFlag) open(env *Env) (ledger.Ledger, context.Context, func(), error) {
	ctx := env.ctx()
	l, err := ledger.Open(ctx, f.path(env))
	if err != nil {
		return nil, nil, nil, ledgerError(f.dsn(), err)
	}
	return l, ctx, func() { l.Close() }, nil
}

func ledgerError(dsn string, err error) error {
	if errors.Is(err, ledger.ErrNotInitialised) {
		return fmt.Errorf("%s: %w", ledger.Redact(dsn), err)
	}
	if errors.Is(err, ledger.ErrBadDSN) {
		return usageError{err}
	}
	return err
}

func newLedgerCmd(env *Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "ledger",
		Short: "The factory ledger: identities, the chips they went to, and every event",
		Long: `The factory ledger records the identities a production line hands out (a file
id or serial with its VALUES.csv row), the chip each one was bound to by MAC, what
was written to it (image SHA-256, certificate fingerprint and serial, keys
fingerprint), whether it was verified, and every event. nvskit station claims
identities from it.

--db is a SQLite file (default nvskit-ledger.db in the working directory, for one
station or the stations of one host) or a postgres:// URL (stations that share a
ledger). Private keys are never stored in the ledger.`,
	}
	c.AddCommand(newLedgerInitCmd(env), newLedgerImportCmd(env), newLedgerAddCmd(env), newLedgerStatusCmd(env),
		newLedgerShowCmd(env), newLedgerExportCmd(env), newLedgerReleaseCmd(env))
	return c
}

func newLedgerInitCmd(env *Env) *cobra.Command {
	var db dbFlag
	c := &cobra.Command{
		Use:   "init",
		Short: "Create the ledger, or migrate it to this nvskit's schema",
		Example: `  nvskit ledger init
  nvskit ledger init --db postgres://factory@db.example/ledger`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) (err error) {
			ctx := env.ctx()
			path := db.path(env)
			if !ledger.IsPostgres(path) {
				if _, serr := os.Lstat(path); errors.Is(serr, fs.ErrNotExist) {
					defer removeEmptyOnError(path, &err)
				}
			}
			l, err := ledger.OpenForInit(ctx, path)
			if err != nil {
				return ledgerError(db.dsn(), err)
			}
			defer l.Close()
			applied, err := l.Init(ctx)
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintf(env.Stdout, "Ledger %s is up to date\n", ledger.Redact(db.dsn()))
				return nil
			}
			fmt.Fprintf(env.Stdout, "Ledger %s: applied schema version %s\n", ledger.Redact(db.dsn()), joinInts(applied))
			return nil
		},
	}
	db.register(c)
	return c
}

// removeEmptyOnError removes the ledger file that a failed or interrupted init created, when
// nothing is in it: "nothing was written" is then true, and a ledger with content is never
// removed (one that another init made meanwhile, say). It runs after the ledger is closed.
func removeEmptyOnError(path string, err *error) {
	if *err == nil {
		return
	}
	if st, serr := os.Lstat(path); serr == nil && st.Mode().IsRegular() && st.Size() == 0 {
		os.Remove(path)
	}
}

func joinInts(v []int) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, ", ")
}

// maxImportErrors is how many bad rows an import lists before it stops.
const maxImportErrors = 20

func newLedgerImportCmd(env *Env) *cobra.Command {
	var db dbFlag
	var config, fileid, size string
	var version int
	var jsonOut bool
	c := &cobra.Command{
		Use:   "import VALUES.csv --config CONFIG.csv --fileid COLUMN",
		Short: "Add the identities of an mfg VALUES.csv, checked against its CONFIG.csv",
		Long: `Add one available identity per row of VALUES.csv (the format of nvskit mfg
generate and mfg_gen.py), named by the --fileid column. Every row is first
checked exactly as mfg generate builds it (values converted by the config's
types and encodings, file rows read, certificates issued with a throwaway CA);
one bad row refuses the whole file, naming file, line and column, and nothing
is imported. With --size the images must also fit a partition of that size.

The ledger stores each row (REPEAT values resolved), so the stations need only
the CONFIG.csv. Files that file rows name must be readable, at the same
relative paths, where the stations run.`,
		Example: `  nvskit ledger import values.csv --config config.csv --fileid serial
  nvskit ledger import values.csv --config config.csv --fileid serial --size 0x6000`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if config == "" {
				return usagef("--config CONFIG.csv is required: rows are checked against it")
			}
			if fileid == "" {
				return usagef("--fileid COLUMN is required: the ledger names identities by that column's value")
			}
			sz := 1 << 20
			if size != "" {
				n, err := parseSize(size)
				if err != nil {
					return err
				}
				if err := nvs.CheckSize(n); err != nil {
					return usageError{err}
				}
				sz = n
			}
			if version != 1 && version != 2 {
				return usagef("--version %d: must be 1 or 2", version)
			}
			cfg, err := loadMfgConfig(env, config)
			if err != nil {
				return err
			}
			ids, err := readIdentities(env, cfg, args[0], fileid, sz, nvs.Version(version))
			if err != nil {
				return err
			}
			l, ctx, done, err := db.open(env)
			if err != nil {
				return err
			}
			defer done()
			if err := l.Add(ctx, ids, args[0]); err != nil {
				return fmt.Errorf("%s: %w; nothing was imported", args[0], err)
			}
			if jsonOut {
				return writeJSON(env.Stdout, map[string]any{"ok": true, "imported": len(ids)})
			}
			fmt.Fprintf(env.Stdout, "Imported %d identities from %s\n", len(ids), args[0])
			return nil
		},
	}
	db.register(c)
	c.Flags().StringVar(&config, "config", "", "the mfg CONFIG.csv the rows are checked against")
	c.Flags().StringVar(&fileid, "fileid", "", "VALUES.csv column whose value names each identity (e.g. serial)")
	c.Flags().StringVar(&size, "size", "", "also check that every image fits a partition of this size (e.g. 0x6000)")
	c.Flags().IntVar(&version, "version", 2, "NVS format version the rows are checked with: 1 or 2")
	c.Flags().BoolVar(&jsonOut, "json", false, "print a JSON summary")
	return c
}

// maxValues is the largest VALUES.csv one import reads. An import is one transaction and holds
// its rows in memory until it commits, so the limit bounds that memory: 1 GiB is a million
// devices of 1 KiB each; a larger run is imported in several files.
const maxValues = 1 << 30

// readIdentities reads and checks VALUES.csv; any bad row refuses the file.
func readIdentities(env *Env, cfg *nvscsv.MfgConfig, name, fileid string, size int, version nvs.Version) ([]ledger.NewIdentity, error) {
	opts := mfg.Options{Size: size, Version: version, FileID: fileid, Jobs: 1, ReadFile: newFileCache(env).read}
	for _, r := range cfg.Rows {
		if r.IsGenerated() {
			// Certificates are issued at the station; check that one fits with a throwaway CA.
			is, err := throwawayIssuer()
			if err != nil {
				return nil, err
			}
			opts.Issuer = is
			break
		}
	}
	gen, err := mfg.New(cfg, opts)
	if err != nil {
		return nil, usageError{err}
	}
	b := gen.NewDeviceBuilder(name)
	f, err := fsutil.Open(env.Path(name), maxValues, "a VALUES.csv")
	if err != nil {
		if errors.Is(err, fsutil.ErrTooLarge) {
			return nil, fmt.Errorf("cannot read the values: %w; an import holds its rows in memory until it commits: split the file and import the parts one after the other", err)
		}
		return nil, fmt.Errorf("cannot read the values: %w", err)
	}
	defer f.Close()
	vr, err := nvscsv.NewMfgValues(cfg, name, f, fileid)
	if err != nil {
		return nil, err
	}
	cols := map[string]int{}
	for i, h := range vr.Header {
		if j, dup := cols[h]; dup {
			return nil, fmt.Errorf("%s:1: columns %d and %d are both named %q; the ledger stores rows by column name", name, j+1, i+1, h)
		}
		cols[h] = i
	}
	var ids []ledger.NewIdentity
	var errs []string
	seen := map[string]int{}
	for {
		// Ctrl-C stops between rows: a long VALUES.csv (a certificate is issued per row) must
		// not run on until nvskit's grace time ends it.
		if err := env.ctx().Err(); err != nil {
			return nil, err
		}
		row, err := vr.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			if prev, dup := seen[row.ID]; dup {
				err = fmt.Errorf("%s:%d: column %d (%s): %w %q: line %d has it too", name, row.Line, vr.FileIDColumn(), fileid, mfg.ErrDuplicateID, row.ID, prev)
			} else {
				seen[row.ID] = row.Line
				if _, berr := b.Build(row); berr != nil {
					err = berr
					var re *mfg.RowError
					if !errors.As(berr, &re) {
						err = fmt.Errorf("%s:%d: %s %q: %w", name, row.Line, fileid, row.ID, berr)
					}
				}
			}
		}
		if err != nil {
			if row == nil {
				return nil, err
			}
			errs = append(errs, err.Error())
			if len(errs) == maxImportErrors {
				errs = append(errs, "(stopped after this many errors)")
				break
			}
			continue
		}
		fields := append([]string(nil), row.Fields...)
		for i, c := range row.Columns {
			if c > 0 {
				fields[c-1] = row.Values[i] // REPEAT resolved
			}
		}
		r := make(ledger.Row, len(fields))
		for i, v := range fields {
			r[i] = ledger.Field{Key: vr.Header[i], Value: v}
		}
		ids = append(ids, ledger.NewIdentity{ID: row.ID, Row: r})
	}
	if len(errs) > 0 {
		n := len(errs)
		if n > maxImportErrors {
			n = maxImportErrors // the last line says that it stopped
		}
		rows := "rows"
		if n == 1 {
			rows = "row"
		}
		return nil, fmt.Errorf("%s\n%d bad %s; nothing was imported", strings.Join(errs, "\n"), n, rows)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s has no device rows", name)
	}
	return ids, nil
}

// throwawayIssuer is a CA made up on the spot, to check that issued certificates fit.
func throwawayIssuer() (*mfg.Issuer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nvskit import check"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		return nil, err
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return mfg.NewIssuer(mfg.CertPEM(der), mfg.KeyPEM(kd), mfg.IssuerOptions{})
}

func newLedgerAddCmd(env *Env) *cobra.Command {
	var db dbFlag
	var format, column, config string
	var count, start int
	var jsonOut bool
	c := &cobra.Command{
		Use:   "add --serial-format SN%06d --count N",
		Short: "Add identities with serials minted from a format, for lines that make their own",
		Long: `Add N available identities whose ids are serials made from a printf format with
one integer verb (SN%06d: SN000001, SN000002, ...). Each identity's row has one
column, --column (default serial), holding the serial. Numbering continues after
the highest serial of that format already in the ledger, unless --start is given.
With --config, the config must take no other value from VALUES.csv.`,
		Example: `  nvskit ledger add --serial-format SN%06d --count 1000
  nvskit ledger add --serial-format NODE-%05d --count 50 --start 100 --column node_id`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if count <= 0 || count > 10_000_000 {
				return usagef("--count %d: give a number from 1 to 10000000", count)
			}
			if err := checkSerialFormat(format); err != nil {
				return err
			}
			if config != "" {
				cfg, err := loadMfgConfig(env, config)
				if err != nil {
					return err
				}
				for _, r := range cfg.Rows {
					if !r.IsNamespace() && !r.IsGenerated() && r.Key != column {
						return fmt.Errorf("%s:%d: key %q takes a value from VALUES.csv, and minted identities only have %q; import a VALUES.csv instead", config, r.Line, r.Key, column)
					}
				}
			}
			l, ctx, done, err := db.open(env)
			if err != nil {
				return err
			}
			defer done()
			if start < 0 {
				return usagef("--start %d: must not be negative", start)
			}
			if !c.Flags().Changed("start") {
				start = 1
				err := l.Each(ctx, func(id *ledger.Identity) error {
					var n int
					if _, err := fmt.Sscanf(id.ID, format, &n); err == nil && fmt.Sprintf(format, n) == id.ID && n >= start {
						start = n + 1
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			ids := make([]ledger.NewIdentity, count)
			for i := range ids {
				s := fmt.Sprintf(format, start+i)
				ids[i] = ledger.NewIdentity{ID: s, Row: ledger.Row{{Key: column, Value: s}}}
			}
			if err := l.Add(ctx, ids, "minted "+format); err != nil {
				return fmt.Errorf("%w; nothing was added (try --start)", err)
			}
			if jsonOut {
				return writeJSON(env.Stdout, map[string]any{"ok": true, "added": count, "first": ids[0].ID, "last": ids[count-1].ID})
			}
			fmt.Fprintf(env.Stdout, "Added %d identities, %s to %s\n", count, ids[0].ID, ids[count-1].ID)
			return nil
		},
	}
	db.register(c)
	c.Flags().StringVar(&format, "serial-format", "", "printf format of the serials, with one integer verb (e.g. SN%06d)")
	c.Flags().IntVar(&count, "count", 0, "how many identities to add")
	c.Flags().IntVar(&start, "start", 1, "first number (default: after the highest serial of this format in the ledger)")
	c.Flags().StringVar(&column, "column", "serial", "the row column (config key) that holds the serial")
	c.Flags().StringVar(&config, "config", "", "check that this mfg CONFIG.csv needs no other value")
	c.Flags().BoolVar(&jsonOut, "json", false, "print a JSON summary")
	return c
}

// checkSerialFormat accepts a format with exactly one integer verb that gives distinct,
// file-name-safe serials.
func checkSerialFormat(format string) error {
	if format == "" {
		return usagef("--serial-format is required, e.g. SN%%06d")
	}
	verbs := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		if i+1 < len(format) && format[i+1] == '%' {
			i++
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("0123456789-+ #", format[j]) >= 0 {
			j++
		}
		if j == len(format) || strings.IndexByte("dxXob", format[j]) < 0 {
			return usagef("--serial-format %q: the only verb allowed is one integer verb (%%d, %%06d, %%x...)", format)
		}
		verbs++
		i = j
	}
	a, b := fmt.Sprintf(format, 1), fmt.Sprintf(format, 2)
	if verbs != 1 || a == b {
		return usagef("--serial-format %q: needs exactly one integer verb, e.g. SN%%06d", format)
	}
	if strings.ContainsAny(a, "/\\\x00") || strings.TrimSpace(a) != a {
		return usagef("--serial-format %q: serials name files; no slashes or surrounding spaces", format)
	}
	return nil
}

func newLedgerStatusCmd(env *Env) *cobra.Command {
	var db dbFlag
	var since time.Duration
	var jsonOut bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Count identities by state and station, with the rate",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if since <= 0 {
				return usagef("--since %s: must be positive", since)
			}
			l, ctx, done, err := db.open(env)
			if err != nil {
				return err
			}
			defer done()
			st, err := l.Status(ctx, time.Now().Add(-since))
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(env.Stdout, st)
			}
			w := env.Stdout
			fmt.Fprintf(w, "%d identities:", st.Total)
			for _, s := range ledger.States {
				fmt.Fprintf(w, " %d %s", st.ByState[s], s)
				if s != ledger.Failed {
					fmt.Fprint(w, ",")
				}
			}
			fmt.Fprintln(w)
			fmt.Fprintf(w, "rate over the last %s: %.0f devices/hour\n", since, st.Rate)
			if st.LastProvisioned != nil {
				fmt.Fprintf(w, "last provisioned: %s\n", st.LastProvisioned.Local().Format(time.DateTime))
			}
			if len(st.Stations) > 0 {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "STATION\tCLAIMED\tPROVISIONED\tFAILED\tPER HOUR")
				for _, s := range st.Stations {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\n", s.Station, s.Claimed, s.Provisioned, s.Failed, s.Rate)
				}
				tw.Flush()
			}
			return nil
		},
	}
	db.register(c)
	c.Flags().DurationVar(&since, "since", time.Hour, "the window of the rate")
	c.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return c
}

func newLedgerShowCmd(env *Env) *cobra.Command {
	var db dbFlag
	var jsonOut, row bool
	c := &cobra.Command{
		Use:   "show ID|MAC",
		Short: "Show one identity, the chip it went to, and its events",
		Long: `Show an identity by file id or by the MAC of its chip: state, chip, station and
port, times, digests of what was written, and every event. The VALUES.csv row
may hold secrets: it is shown only with --row.`,
		Example: `  nvskit ledger show SN000042
  nvskit ledger show 24:0a:c4:12:34:56 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			l, ctx, done, err := db.open(env)
			if err != nil {
				return err
			}
			defer done()
			id, err := l.Get(ctx, args[0])
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			evs, err := l.Events(ctx, id.ID)
			if err != nil {
				return err
			}
			if !row {
				id.Row = nil
			}
			if jsonOut {
				return writeJSON(env.Stdout, struct {
					*ledger.Identity
					Events []ledger.Event `json:"events"`
				}{id, evs})
			}
			w := env.Stdout
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			line := func(k, v string) {
				if v != "" {
					fmt.Fprintf(tw, "%s\t%s\n", k, v)
				}
			}
			line("id", id.ID)
			line("state", string(id.State))
			line("mac", id.MAC)
			line("chip", id.Chip)
			line("station", id.Station)
			line("port", id.Port)
			if id.ClaimedAt != nil {
				line("claimed", id.ClaimedAt.Local().Format(time.RFC3339))
			}
			if id.DoneAt != nil {
				line("done", id.DoneAt.Local().Format(time.RFC3339))
			}
			line("image sha256", id.ImageSHA256)
			line("cert sha256", id.CertSHA256)
			line("cert serial", id.CertSerial)
			line("keys sha256", id.KeysSHA256)
			if id.State == ledger.Provisioned || id.State == ledger.Failed {
				line("verified", fmt.Sprint(id.Verified))
			}
			line("attempts", fmt.Sprint(id.Attempts))
			line("error", id.Error)
			for _, f := range id.Row {
				line("row "+f.Key, f.Value)
			}
			tw.Flush()
			if len(evs) > 0 {
				fmt.Fprintln(w, "events:")
				for _, e := range evs {
					where := strings.Trim(e.Station+" "+e.Port, " ")
					fmt.Fprintf(w, "  %s  %-11s %s %s %s\n", e.At.Local().Format(time.DateTime), e.Kind, e.MAC, where, e.Detail)
				}
			}
			return nil
		},
	}
	db.register(c)
	c.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	c.Flags().BoolVar(&row, "row", false, "also show the VALUES.csv row (it may hold secrets)")
	return c
}

// exportRecord is one identity in an export: what a cloud registration needs.
type exportRecord struct {
	ID          string `json:"id"`
	MAC         string `json:"mac"`
	State       string `json:"state"`
	Chip        string `json:"chip"`
	CertSHA256  string `json:"cert_sha256"`
	CertSerial  string `json:"cert_serial"`
	KeysSHA256  string `json:"keys_sha256"`
	ImageSHA256 string `json:"image_sha256"`
	Verified    bool   `json:"verified"`
	Station     string `json:"station"`
	Port        string `json:"port"`
	DoneAt      string `json:"done_at"`
}

var exportColumns = []string{"id", "mac", "state", "chip", "cert_sha256", "cert_serial", "keys_sha256", "image_sha256", "verified", "station", "port", "done_at"}

func (r *exportRecord) fields() []string {
	return []string{r.ID, r.MAC, r.State, r.Chip, r.CertSHA256, r.CertSerial, r.KeysSHA256, r.ImageSHA256, fmt.Sprint(r.Verified), r.Station, r.Port, r.DoneAt}
}

func newLedgerExportCmd(env *Env) *cobra.Command {
	var db dbFlag
	var format, output string
	var states []string
	var out outFlags
	c := &cobra.Command{
		Use:   "export --format csv|json [--output FILE]",
		Short: "Export the MAC-to-certificate map (for a cloud registration)",
		Long: `Export one record per identity: id, mac (lower case, colon-separated), state,
chip, cert_sha256 (SHA-256 fingerprint of the device certificate's DER),
cert_serial, keys_sha256, image_sha256, verified, station, port, done_at. JSON is
an array of objects; CSV has a header row. --state keeps only identities in the
given states (default: all). Rows and keys are never exported.`,
		Example: `  nvskit ledger export --format json --state provisioned --output devices.json
  nvskit ledger export --format csv > devices.csv`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if format != "csv" && format != "json" {
				return usagef("--format %q: choose csv or json", format)
			}
			keep := map[ledger.State]bool{}
			for _, s := range states {
				st := ledger.State(strings.ToLower(s))
				if !isState(st) {
					return usagef("--state %q: choose from available, claimed, provisioned, failed", s)
				}
				keep[st] = true
			}
			o, err := out.options()
			if err != nil {
				return err
			}
			var path string
			if output != "" && output != "-" {
				path = env.Path(output)
				if err := checkNew(o, path); err != nil {
					return err
				}
			}
			l, ctx, done, err := db.open(env)
			if err != nil {
				return err
			}
			defer done()
			var buf bytes.Buffer
			var w io.Writer = &buf
			if path == "" {
				w = env.Stdout
			}
			cw := csv.NewWriter(w)
			n := 0
			if format == "csv" {
				cw.Write(exportColumns)
			} else {
				io.WriteString(w, "[")
			}
			err = l.Each(ctx, func(id *ledger.Identity) error {
				if len(keep) > 0 && !keep[id.State] {
					return nil
				}
				r := exportRecord{ID: id.ID, MAC: id.MAC, State: string(id.State), Chip: id.Chip, CertSHA256: id.CertSHA256,
					CertSerial: id.CertSerial, KeysSHA256: id.KeysSHA256, ImageSHA256: id.ImageSHA256, Verified: id.Verified,
					Station: id.Station, Port: id.Port}
				if id.DoneAt != nil {
					r.DoneAt = id.DoneAt.UTC().Format(time.RFC3339)
				}
				if format == "csv" {
					return cw.Write(r.fields())
				}
				b, _ := json.Marshal(&r)
				if n > 0 {
					io.WriteString(w, ",")
				}
				io.WriteString(w, "\n  ")
				w.Write(b)
				n++
				return nil
			})
			if err != nil {
				return err
			}
			if format == "csv" {
				cw.Flush()
			} else {
				if n > 0 {
					io.WriteString(w, "\n")
				}
				io.WriteString(w, "]\n")
			}
			if path != "" {
				if err := writeOutput(path, buf.Bytes(), o); err != nil {
					return err
				}
			}
			return nil
		},
	}
	db.register(c)
	c.Flags().StringVar(&format, "format", "json", "csv or json")
	c.Flags().StringVarP(&output, "output", "o", "", "write to this file (atomically) instead of stdout")
	c.Flags().StringSliceVar(&states, "state", nil, "only identities in these states (comma-separated)")
	out.register(c, env, 0o644, nil)
	return c
}

func isState(s ledger.State) bool {
	for _, x := range ledger.States {
		if x == s {
			return true
		}
	}
	return false
}

func newLedgerReleaseCmd(env *Env) *cobra.Command {
	var db dbFlag
	var force bool
	var station string
	c := &cobra.Command{
		Use:   "release ID",
		Short: "Return a failed identity to the available pool",
		Long: `Unbind a failed identity from its chip and make it available to the next chip
(the events keep the old binding). A claimed or provisioned identity is refused
unless --force, and so is a failed one that was provisioned on its chip before
(it may still be on it): use --force only when that chip is scrapped or
erased, since otherwise two chips would carry the same identity.`,
		Example: `  nvskit ledger release SN000042`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			l, ctx, done, err := db.open(env)
			if err != nil {
				return err
			}
			defer done()
			if station == "" {
				station, _ = os.Hostname()
			}
			id, err := l.Release(ctx, args[0], station, force)
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			fmt.Fprintf(env.Stdout, "Released %s (was %s on %s)\n", id.ID, id.State, id.MAC)
			return nil
		},
	}
	db.register(c)
	c.Flags().BoolVar(&force, "force", false, "release a claimed or provisioned identity too, or a failed one that was provisioned on its chip before (the chip must be scrapped or erased)")
	c.Flags().StringVar(&station, "station", "", "who releases it, recorded with the event (default: the host name)")
	return c
}
