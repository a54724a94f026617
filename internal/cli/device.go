package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/partition"
	"github.com/nvskit/nvskit/port"
)

// devFlags are the connection flags every device command shares.
type devFlags struct {
	port      string
	baud      int
	reset     string
	flashSize string
	attempts  int
	after     string
	trace     bool
	traceData bool
	cmd       *cobra.Command
}

func (f *devFlags) register(c *cobra.Command) {
	f.cmd = c
	c.Flags().StringVarP(&f.port, "port", "p", os.Getenv("NVSKIT_PORT"), "serial port (COM3, /dev/ttyUSB0) or socket://HOST:PORT (default $NVSKIT_PORT, else the one ESP board plugged in)")
	c.Flags().IntVarP(&f.baud, "baud", "b", 460800, "baud rate for the transfer (the connection starts at 115200, then switches; on socket:// ports only when given)")
	c.Flags().StringVar(&f.reset, "reset", "auto", "how to put the chip into download mode: auto, classic, unix, usb-jtag or none")
	c.Flags().StringVar(&f.after, "after", "hard-reset", "what to do when done: hard-reset (run the application) or no-reset (stay in the loader)")
	c.Flags().BoolVar(&f.trace, "trace", false, "log every frame exchanged with the chip to stderr (for bug reports); flash data and eFuse key words are left out")
	c.Flags().BoolVar(&f.traceData, "trace-data", false, "with --trace, show the flash data and eFuse key words too (they may be secrets)")
	c.Flags().IntVar(&f.attempts, "connect-attempts", 7, "how many times to reset the chip and try to connect")
	c.Flags().StringVar(&f.flashSize, "flash-size", "detect", "flash size for SPI_SET_PARAMS: detect, or 1MB..128MB")
}

// detectPort finds the port of the one ESP board plugged in (a variable for the tests).
var detectPort = port.Detect

// device is an open connection to a chip's ROM loader.
type device struct {
	env   *Env
	port  port.Port
	l     *esploader.Loader
	reset bool
	sec   *esploader.Security // read once, by security()
	key   *flashKey           // --flash-key, where the command takes it
	stop  func() bool         // stops closing the port when the run is interrupted
}

// Close resets the chip into its application (with --after hard-reset) and closes the port.
func (d *device) Close() error {
	d.stop()
	if d.reset && d.env.ctx().Err() == nil {
		d.l.HardReset()
	}
	return d.port.Close()
}

// connect opens the port, resets the chip into download mode and synchronises.
func (f *devFlags) connect(env *Env) (*device, error) {
	if f.port == "" {
		// No --port and no $NVSKIT_PORT: take the one ESP board plugged in, if there is exactly one.
		info, err := detectPort()
		if err != nil {
			return nil, usagef("--port is required: %v; pass --port (or set $NVSKIT_PORT), and nvskit ports lists the serial ports", err)
		}
		fmt.Fprintf(env.Stderr, "Using %s (%s), the only ESP board found; pass --port to choose another\n", info.Name, info.Bridge)
		f.port = info.Name
	}
	mode, ok := esploader.ParseResetMode(f.reset)
	if !ok {
		return nil, usagef("--reset %q: choose auto, classic, unix, usb-jtag or none", f.reset)
	}
	var flashSize int
	if f.flashSize != "detect" && f.flashSize != "" {
		n, err := partition.ParseFlashSize(strings.ToUpper(f.flashSize))
		if err != nil {
			return nil, usagef("--flash-size %q: choose detect or one of %s", f.flashSize, strings.Join(partition.FlashSizes, ", "))
		}
		flashSize = int(n)
	}
	if f.after != "hard-reset" && f.after != "no-reset" {
		return nil, usagef("--after %q: choose hard-reset or no-reset", f.after)
	}
	if f.baud < 9600 || f.baud > 5000000 {
		return nil, usagef("--baud %d: out of range", f.baud)
	}
	p, err := port.Open(f.port, port.DefaultBaud)
	if err != nil {
		return nil, err
	}
	// Ctrl-C closes the port: whatever exchange is under way fails at once.
	stop := context.AfterFunc(env.ctx(), func() { p.Close() })
	opts := esploader.Options{Reset: mode, Attempts: f.attempts}
	if f.trace || f.traceData {
		opts.Trace, opts.TraceData = env.Stderr, f.traceData
	}
	if strings.HasPrefix(f.port, port.SocketPrefix) {
		opts.Reset = esploader.ResetNone
		opts.Lines = nil
	} else if info, ok := port.Lookup(f.port); ok && info.USBJTAG() {
		opts.USBJTAG = true
	}
	fmt.Fprintf(env.Stderr, "Connecting to %s...\n", f.port)
	l, err := esploader.Connect(p, opts)
	if err != nil {
		stop()
		p.Close()
		if env.ctx().Err() != nil {
			return nil, env.ctx().Err()
		}
		var ce *esploader.ConnectError
		if errors.As(err, &ce) && strings.Contains(ce.BootLog, strings.TrimSpace(loadersim.BusyMessage)) {
			return nil, fmt.Errorf("%s: the simulator is busy with another client; run the command again when that one has finished (an idle client is disconnected after the simulator's --idle-timeout)", f.port)
		}
		return nil, err
	}
	if flashSize > 0 {
		l.SetFlashSize(flashSize)
	}
	d := &device{env: env, port: p, l: l, reset: f.after == "hard-reset", stop: stop}
	desc := l.Chip().Name
	if on, err := l.FlashEncryption(); err == nil && on {
		desc += ", flash encryption on"
	}
	fmt.Fprintf(env.Stderr, "Connected: %s\n", desc)
	// Over a raw socket the far end (a serial-to-TCP bridge such as ser2net) stays at its own
	// speed whatever the chip is told: change it only when --baud is given.
	socket := strings.HasPrefix(f.port, port.SocketPrefix)
	baudGiven := f.cmd != nil && f.cmd.Flags().Changed("baud")
	if f.baud != port.DefaultBaud && !opts.USBJTAG && (!socket || baudGiven) {
		if err := l.ChangeBaud(f.baud); err != nil {
			stop()
			p.Close()
			return nil, fmt.Errorf("changing to %d baud: %w; try a lower --baud", f.baud, err)
		}
	}
	return d, nil
}

// parseAddr parses a flash address or size: decimal or 0x hex, with an optional K or M suffix.
func parseAddr(flag, s string) (uint32, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	mul := uint64(1)
	switch {
	case strings.HasSuffix(t, "K") || strings.HasSuffix(t, "k"):
		mul, t = 1024, t[:len(t)-1]
	case strings.HasSuffix(t, "M") || strings.HasSuffix(t, "m"):
		mul, t = 1<<20, t[:len(t)-1]
	}
	n, err := strconv.ParseUint(t, 0, 32)
	if err != nil || n*mul > 1<<32-1 {
		return 0, usagef("%s %q: give a number of bytes, decimal or 0x hex (e.g. 0x9000, 24K)", flag, s)
	}
	return uint32(n * mul), nil
}

// ptFlags say where the partition table comes from.
type ptFlags struct {
	table       string
	tableOffset string
	force       bool
	flashKey    bool // the command has --flash-key, which can decrypt an encrypted table
}

// register adds --partition-table, --partition-table-offset and --force. force is what
// --force overrides in this command; flashKey says whether the command has --flash-key, which
// can decrypt the table of a chip with flash encryption on.
func (f *ptFlags) register(c *cobra.Command, force string, flashKey bool) {
	f.flashKey = flashKey
	table := "partition table file (CSV or binary); default: read it from the device (encrypted there when flash encryption is on: give this file then)"
	if flashKey {
		table = "partition table file (CSV or binary); default: read it from the device (encrypted there when flash encryption is on: give this file, or --flash-key to decrypt it)"
	}
	c.Flags().StringVar(&f.table, "partition-table", "", table)
	c.Flags().StringVar(&f.tableOffset, "partition-table-offset", "0x8000", "where the partition table is in flash (CONFIG_PARTITION_TABLE_OFFSET)")
	c.Flags().BoolVar(&f.force, "force", false, force)
}

func (f *ptFlags) offset() (uint32, error) {
	return parseAddr("--partition-table-offset", f.tableOffset)
}

// loadTable reads the partition table from the --partition-table file, or from the device.
// From the device, a missing table returns (nil, nil) unless required.
func (f *ptFlags) loadTable(env *Env, d *device, required bool) (*partition.Table, error) {
	off, err := f.offset()
	if err != nil {
		return nil, err
	}
	opts := partition.Options{Offset: off, NoVerify: true}
	if f.table != "" {
		b, err := fsutil.ReadFile(env.Path(f.table), fsutil.MaxPartitionTable, "a partition table")
		if err != nil {
			return nil, fmt.Errorf("reading the partition table: %w", err)
		}
		t, err := partition.Parse(b, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.table, err)
		}
		return t, nil
	}
	b, err := d.l.ReadFlash(off, partition.MaxLength, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the partition table at 0x%X: %w", off, err)
	}
	fe := false
	if b[0] != 0xAA || b[1] != 0x50 {
		// No table magic: with flash encryption on, the table on flash is ciphertext.
		if sec, err := d.security(); err == nil && sec.FlashEncryption {
			fe = true
		}
		if fe && d.key != nil {
			if b, err = d.key.decrypt(off, b); err != nil {
				return nil, err
			}
		}
	}
	t, err := partition.ParseBinary(b, opts)
	if err == nil && len(t.Partitions) == 0 {
		err = partition.ErrNoEndMarker
	}
	if err != nil {
		if !required {
			return nil, nil
		}
		if fe && d.key == nil {
			orKey := ", or --flash-key KEY to decrypt it"
			if !f.flashKey {
				orKey = ""
			}
			return nil, fmt.Errorf("the partition table at 0x%X cannot be read: flash encryption is on, so it is stored encrypted; pass --partition-table FILE (the build's partitions.csv or partition-table.bin)%s", off, orKey)
		}
		if fe {
			return nil, fmt.Errorf("the partition table at 0x%X does not decrypt with --flash-key %s (%w); check the key, or pass --partition-table FILE", off, d.key.path, err)
		}
		if b[0] == 0xFF && b[1] == 0xFF {
			return nil, fmt.Errorf("no partition table at 0x%X on the device (the flash there is erased); pass --partition-table FILE, or --offset", off)
		}
		return nil, fmt.Errorf("the partition table at 0x%X on the device cannot be read (%w); pass --partition-table FILE or --partition-table-offset", off, err)
	}
	return t, nil
}

// findPartition returns the named partition of the table.
func findPartition(t *partition.Table, name string) (*partition.Partition, error) {
	p, err := t.Lookup(name)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// errRefused marks a refusal that --force overrides.
var errRefused = errors.New("refusing")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s; pass --force to do it anyway", errRefused, fmt.Sprintf(format, args...))
}

// checkWrite refuses a write or erase of [off, off+size) over the bootloader, the partition
// table or an app partition.
func checkWrite(t *partition.Table, tableOff, off, size uint32) error {
	end := uint64(off) + uint64(size)
	if off < tableOff {
		return refuse("0x%X-0x%X is below the partition table (0x%X): that is where the bootloader lives", off, end-1, tableOff)
	}
	if uint64(off) < uint64(tableOff)+partition.SectorSize {
		return refuse("0x%X-0x%X overlaps the partition table sector at 0x%X", off, end-1, tableOff)
	}
	if t == nil {
		return nil
	}
	for i := range t.Partitions {
		p := &t.Partitions[i]
		if uint64(off) < p.End() && uint64(p.Offset) < end {
			switch p.Type {
			case partition.TypeApp:
				return refuse("0x%X-0x%X overlaps the app partition %q (0x%X-0x%X)", off, end-1, p.Name, p.Offset, p.End()-1)
			case partition.TypeBootloader, partition.TypePartitionTable:
				return refuse("0x%X-0x%X overlaps the %s partition %q", off, end-1, partition.TypeName(p.Type), p.Name)
			}
		}
	}
	return nil
}

// progress draws a progress bar on a terminal, and nothing elsewhere.
type progress struct {
	w     io.Writer
	label string
	on    bool
	start time.Time
	last  int
}

func newProgress(env *Env, label string) *progress {
	return &progress{w: env.Stderr, label: label, on: env.Terminal, start: time.Now(), last: -1}
}

func (p *progress) update(done, total int) {
	if !p.on || total <= 0 {
		return
	}
	pct := done * 100 / total
	if pct == p.last {
		return
	}
	p.last = pct
	const width = 30
	n := done * width / total
	fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %s", p.label, strings.Repeat("#", n), strings.Repeat(" ", width-n), pct, humanBytes(done))
}

func (p *progress) finish() {
	if p.on && p.last >= 0 {
		fmt.Fprintln(p.w)
	}
}
