//go:build !nofactory

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/ledger"
	"github.com/nvskit/nvskit/mfg"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/partition"
	"github.com/nvskit/nvskit/station"
)

type stationFlags struct {
	db                                 dbFlag
	config, part, keysPart, chip, name string
	ports                              []string
	table, tableOffset                 string
	version                            int
	keygen                             bool
	inputkey                           string
	caFlags
	baud       int
	reset      string
	poll       time.Duration
	once, json bool
}

func newStationCmd(env *Env) *cobra.Command {
	var f stationFlags
	c := &cobra.Command{
		Use:   "station --config CONFIG.csv --partition NAME --chip CHIP --port PORT [--port PORT...]",
		Short: "Run a provisioning station: claim an identity per chip from the ledger, write and verify it",
		Long: `Run one factory station with one or more jigs (ports), each served in parallel:
wait for a device, connect, read its chip type and MAC, claim an identity for
that MAC from the ledger (--db), build its NVS image from CONFIG.csv and the
identity's row (with a fresh certificate signed by --ca-cert/--ca-key, and keys
with --keygen or --inputkey), write it into --partition and verify it, record
the result, reset the chip, and wait for the next one.

A chip seen before gets its own identity back, so a station that crashed or was
killed is simply started again: the device it was on is finished with the same
identity (one already provisioned is only verified). A device of another chip
type than --chip, or without the partition, is refused before anything is
written. Ctrl-C stops taking devices; those in progress are finished if they can
be within a second, else done again, with the same identities, at the next start.

With --keygen every device gets fresh NVS encryption keys, written to its
nvs_keys partition (--keys-partition, default the table's first): plain when the
chip's flash encryption is off (the bootloader encrypts the partition when it
enables flash encryption at first boot), through the chip's flash encryption
(the ROM's encrypted write) when it is on. A chip whose ROM cannot write
encrypted (the ESP32; release mode) is refused in that mode. With flash
encryption on, the table on the device is encrypted: give --partition-table.

--json prints one JSON object per event on stdout, for a line controller.`,
		Example: `  nvskit station --config config.csv --partition fctry --chip esp32s3 \
      --ca-cert ca.pem --ca-key ca.key --port /dev/ttyUSB0 --port /dev/ttyUSB1
  nvskit station --db postgres://line@db.example/factory --station line2 --config config.csv \
      --partition fctry --chip esp32c3 --port /dev/ttyACM0 --json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runStation(env, &f)
		},
	}
	f.db.register(c)
	fl := c.Flags()
	fl.StringVar(&f.config, "config", "", "the mfg CONFIG.csv that lays out the images")
	fl.StringVar(&f.part, "partition", "", "the NVS partition to write (by name, from the partition table)")
	fl.StringVar(&f.keysPart, "keys-partition", "", "the nvs_keys partition for --keygen (default: the table's first data/nvs_keys)")
	fl.StringVar(&f.chip, "chip", "", "the chip type the line makes (esp32, esp32s3, esp32c3, ...); others are refused")
	fl.StringArrayVarP(&f.ports, "port", "p", nil, "a jig's port (COM3, /dev/ttyUSB0, socket://HOST:PORT); repeat for each jig")
	fl.StringVar(&f.name, "station", "", "the station's name, recorded with every event (default: the host name)")
	fl.StringVar(&f.table, "partition-table", "", "partition table file (CSV or binary); default: read it from each device")
	fl.StringVar(&f.tableOffset, "partition-table-offset", "0x8000", "where the partition table is in flash")
	fl.IntVar(&f.version, "version", 2, "NVS format version: 1 or 2")
	fl.BoolVar(&f.keygen, "keygen", false, "encrypt every image with fresh keys, written to the device's nvs_keys partition")
	fl.StringVar(&f.inputkey, "inputkey", "", "encrypt every image with the keys in this nvs_keys image (the devices already have them)")
	f.caFlags.register(c)
	fl.IntVarP(&f.baud, "baud", "b", 460800, "baud rate for the transfer (the connection starts at 115200)")
	fl.StringVar(&f.reset, "reset", "auto", "how to put the chip into download mode: auto, classic, unix, usb-jtag or none")
	fl.DurationVar(&f.poll, "poll", time.Second, "how often an empty jig is tried")
	fl.BoolVar(&f.once, "once", false, "provision one device per port, then exit (non-zero if one was not provisioned)")
	fl.BoolVar(&f.json, "json", false, "print one JSON object per event on stdout")
	return c
}

func runStation(env *Env, f *stationFlags) error {
	switch {
	case f.config == "":
		return usagef("--config CONFIG.csv is required")
	case f.part == "":
		return usagef("--partition NAME is required (the NVS partition the images go to)")
	case f.chip == "":
		return usagef("--chip is required: the chip type the line makes, e.g. esp32s3")
	case len(f.ports) == 0:
		return usagef("--port is required, once per jig")
	case f.version != 1 && f.version != 2:
		return usagef("--version %d: must be 1 or 2", f.version)
	case f.keygen && f.inputkey != "":
		return usagef("--keygen and --inputkey exclude each other")
	case f.baud < 9600 || f.baud > 5000000:
		return usagef("--baud %d: out of range", f.baud)
	case f.poll <= 0:
		return usagef("--poll %s: must be positive", f.poll)
	}
	if _, ok := esploader.ChipByName(f.chip); !ok {
		var names []string
		for _, c := range esploader.Chips {
			names = append(names, strings.ToLower(strings.ReplaceAll(c.Name, "-", "")))
		}
		return usagef("--chip %q: choose one of %s", f.chip, strings.Join(names, ", "))
	}
	mode, ok := esploader.ParseResetMode(f.reset)
	if !ok {
		return usagef("--reset %q: choose auto, classic, unix, usb-jtag or none", f.reset)
	}
	if f.name == "" {
		f.name, _ = os.Hostname()
	}
	cfg, err := loadMfgConfig(env, f.config)
	if err != nil {
		return err
	}
	mo := mfg.Options{Version: nvs.Version(f.version), ReadFile: newFileCache(env).read}
	switch {
	case f.keygen:
		mo.Encryption = &mfg.Encryption{KeyGen: true}
	case f.inputkey != "":
		b, err := readInput(env, f.inputkey, fsutil.MaxKeyFile, "an nvs_keys partition image")
		if err != nil {
			return fmt.Errorf("--inputkey: %w", err)
		}
		k, err := nvs.KeysFromBytes(b)
		if err != nil {
			return fmt.Errorf("--inputkey %s: %w", f.inputkey, err)
		}
		mo.Encryption = &mfg.Encryption{Keys: &k}
	}
	if mo.Issuer, err = f.issuer(env); err != nil {
		return err
	}
	pt := ptFlags{table: f.table, tableOffset: f.tableOffset}
	tableOff, err := pt.offset()
	if err != nil {
		return err
	}
	var tbl *partition.Table
	if f.table != "" {
		if tbl, err = pt.loadTable(env, nil, true); err != nil {
			return err
		}
		if _, err := tbl.Lookup(f.part); err != nil {
			return fmt.Errorf("%s: %w", f.table, err)
		}
	}

	// Ctrl-C stops: no new device is taken, and the devices in progress are finished if they
	// can be within nvskit's grace time; one that is cut short is done again, with the same
	// identity, at the next start.
	ctx := env.ctx()

	l, err := ledger.Open(ctx, f.db.path(env))
	if err != nil {
		return ledgerError(f.db.dsn(), err)
	}
	defer l.Close()
	if _, err := l.Status(ctx, time.Now()); err != nil {
		return ledgerError(f.db.dsn(), err)
	}

	view := newStationView(env, f.ports, f.json)
	st, err := station.New(station.Options{
		Ledger: l, Config: cfg, Mfg: mo, Partition: f.part, KeysPartition: f.keysPart, Table: tbl, TableOffset: tableOff,
		Chip: f.chip, Station: f.name, Ports: f.ports, Poll: f.poll, Once: f.once, Events: view.event,
		Connect: station.DialLoader(station.LoaderOptions{Baud: f.baud, Reset: mode}),
	})
	if err != nil {
		return usageError{err}
	}
	if !f.json {
		fmt.Fprintf(env.Stderr, "Station %s: %d port(s), ledger %s, %s images into %q; Ctrl-C stops\n",
			f.name, len(f.ports), ledger.Redact(f.db.dsn()), f.chip, f.part)
	}
	runErr := st.Run(ctx)
	view.close()
	summary := fmt.Sprintf("%d provisioned (%d already), %d failed, %d refused", view.provisioned, view.already, view.failed, view.refused)
	if !f.json {
		fmt.Fprintln(env.Stdout, summary)
	}
	if ctx.Err() != nil {
		return &partlyWritten{what: "stopped; " + summary, err: context.Cause(ctx)}
	}
	if runErr != nil {
		if errors.Is(runErr, ledger.ErrExhausted) {
			return &ExitError{Code: 1, Err: fmt.Errorf("%w: import or add more (nvskit ledger import/add)", runErr)}
		}
		return &ExitError{Code: 1, Err: runErr}
	}
	return nil
}

// stationView renders station events: a live view of one line per port on a terminal, one
// JSON object per event with --json, else one line per finished device.
type stationView struct {
	env                                   *Env
	json                                  bool
	enc                                   *json.Encoder
	p                                     *mpb.Progress
	mu                                    sync.Mutex
	bars                                  map[string]*mpb.Bar
	status                                map[string]string
	provisioned, already, failed, refused int
}

func newStationView(env *Env, ports []string, jsonOut bool) *stationView {
	v := &stationView{env: env, json: jsonOut, bars: map[string]*mpb.Bar{}, status: map[string]string{}}
	if jsonOut {
		v.enc = json.NewEncoder(env.Stdout)
		return v
	}
	if !env.Terminal {
		return v
	}
	v.p = mpb.New(mpb.WithOutput(env.Stderr), mpb.WithWidth(24), mpb.WithRefreshRate(150*time.Millisecond))
	width := 0
	for _, p := range ports {
		width = max(width, len(p))
	}
	for _, p := range ports {
		v.status[p] = "starting"
		v.bars[p] = v.p.AddBar(100,
			mpb.PrependDecorators(decor.Name(p, decor.WC{W: width + 1, C: decor.DindentRight})),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
				v.mu.Lock()
				defer v.mu.Unlock()
				return v.status[p]
			})),
		)
	}
	return v
}

func (v *stationView) event(e station.Event) {
	v.mu.Lock()
	switch e.Kind {
	case station.KindProvisioned:
		v.provisioned++
		if e.Already {
			v.already++
		}
	case station.KindFailed:
		v.failed++
	case station.KindRefused:
		v.refused++
	}
	v.mu.Unlock()
	if v.json {
		v.enc.Encode(e)
		return
	}
	line := describe(e)
	if v.p == nil {
		switch e.Kind {
		case station.KindProvisioned, station.KindFailed, station.KindRefused, station.KindExhausted, station.KindError:
			fmt.Fprintf(v.env.Stdout, "%s %s: %s\n", e.Time.Local().Format(time.TimeOnly), e.Port, line)
		}
		return
	}
	v.mu.Lock()
	v.status[e.Port] = line
	v.mu.Unlock()
	b := v.bars[e.Port]
	switch e.Kind {
	case station.KindWriting:
		if e.Total > 0 {
			b.SetCurrent(int64(min(e.Done*100/e.Total, 99))) // at 100 the bar would complete and stop drawing
		}
	case station.KindConnected, station.KindWaiting:
		b.SetCurrent(0)
	case station.KindProvisioned:
		b.SetCurrent(99)
	}
}

// describe is the live view's text for an event.
func describe(e station.Event) string {
	switch e.Kind {
	case station.KindWaiting:
		return "waiting for a device"
	case station.KindConnected:
		return fmt.Sprintf("%s %s connected", e.Chip, e.MAC)
	case station.KindClaimed:
		if e.Attempt > 1 {
			return fmt.Sprintf("%s %s: %s again (attempt %d)", e.Chip, e.MAC, e.ID, e.Attempt)
		}
		return fmt.Sprintf("%s %s: %s", e.Chip, e.MAC, e.ID)
	case station.KindWriting:
		return fmt.Sprintf("%s %s: writing %s", e.MAC, e.ID, humanBytes(e.Total))
	case station.KindProvisioned:
		if e.Already {
			return fmt.Sprintf("%s %s: already provisioned, verified", e.MAC, e.ID)
		}
		return fmt.Sprintf("%s %s: provisioned and verified in %.1f s", e.MAC, e.ID, e.Seconds)
	case station.KindFailed:
		return fmt.Sprintf("%s %s: FAILED: %s", e.MAC, e.ID, e.Error)
	case station.KindRefused:
		return fmt.Sprintf("%s %s: REFUSED: %s", e.Chip, e.MAC, e.Error)
	case station.KindExhausted:
		return "no identity left in the ledger"
	case station.KindError:
		return "error: " + e.Error
	case station.KindDone:
		return fmt.Sprintf("%s %s: done, waiting for the next device", e.MAC, e.ID)
	}
	return e.Kind
}

func (v *stationView) close() {
	if v.p == nil {
		return
	}
	// Completing the bars draws their last state once more, and ends the view.
	for _, b := range v.bars {
		b.SetTotal(-1, true)
	}
	v.p.Wait()
}
