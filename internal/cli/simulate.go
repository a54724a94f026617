package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/partition"
)

// defaultTable is ESP-IDF's "single factory app" table, which a new simulated flash gets at
// 0x8000 so that --partition nvs works at once.
func defaultTable() []byte {
	t := &partition.Table{Offset: partition.DefaultOffset, Partitions: []partition.Partition{
		{Name: "nvs", Type: partition.TypeData, SubType: partition.SubtypeNVS, Offset: 0x9000, Size: 0x6000},
		{Name: "phy_init", Type: partition.TypeData, SubType: partition.SubtypePHY, Offset: 0xF000, Size: 0x1000},
		{Name: "factory", Type: partition.TypeApp, SubType: partition.SubtypeFactory, Offset: 0x10000, Size: 0x100000},
	}}
	b, err := t.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}

func newSimulateCmd(env *Env) *cobra.Command {
	var chip, flash, flashSize, listen string
	var baud, sessions int
	var idle time.Duration
	var encryption, remote, blank bool
	c := &cobra.Command{
		Use:   "simulate --chip CHIP [--flash FLASH.bin] --listen 127.0.0.1:PORT",
		Short: "Run a simulated ESP ROM loader on a TCP port, to try nvskit without hardware",
		Long: `Serve a simulated ESP chip in download mode on a TCP port. Point any nvskit
device command at it with --port socket://HOST:PORT. The flash is kept in
--flash (created if missing, every write saved) or in memory. An existing --flash
file must be a full flash dump: exactly --flash-size, or without --flash-size one
of 1MB..128MB; anything else (a partition image, say) is refused rather than grown.
A new flash gets ESP-IDF's default partition table at 0x8000 (nvs at 0x9000,
0x6000 bytes; phy_init; a 1 MiB factory app) unless --blank is given.

It serves one client at a time, as a chip has one UART: a client that connects
while another is connected is told the simulator is busy, and a client that
sends nothing for --idle-timeout is disconnected.

Chips: ` + strings.Join(loadersim.ChipNames(), ", ") + `.
It listens on loopback addresses only, unless --allow-remote is given.`,
		Example: `  nvskit simulate --chip esp32 --flash flash.bin --listen 127.0.0.1:5555
  nvskit flash nvs.bin --port socket://127.0.0.1:5555 --partition nvs`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			host, _, err := net.SplitHostPort(listen)
			if err != nil {
				return usagef("--listen %q: give HOST:PORT, e.g. 127.0.0.1:5555", listen)
			}
			if ip := net.ParseIP(host); !remote && (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
				return usagef("--listen %q is not a loopback address; the simulator accepts anyone who connects, so pass --allow-remote if you mean it", listen)
			}
			size := 4 << 20
			if flashSize != "" {
				n, err := partition.ParseFlashSize(strings.ToUpper(flashSize))
				if err != nil {
					return usagef("--flash-size %q: choose one of %s", flashSize, strings.Join(partition.FlashSizes, ", "))
				}
				size = int(n)
			}
			cfg := loadersim.Config{Chip: chip, FlashSize: size, Baud: baud, FlashEncryption: encryption}
			created := true
			if flash != "" {
				cfg.File = env.Path(flash)
				n, exists, err := flashFileSize(cfg.File, flash)
				if err != nil {
					return err
				}
				if exists {
					// The file is the chip's whole flash: only a full dump of that size is
					// taken, never one the simulator would grow (a partition image, say).
					if flashSize == "" && validFlashSize(n) {
						cfg.FlashSize = int(n)
					} else if n != int64(size) {
						return fmt.Errorf("%s exists and is %s, not a full flash dump of %s (the simulated flash); the simulator uses the file as the whole flash and would grow it. Give a new file name (it is created)%s",
							flash, humanBytes(int(n)), humanBytes(size), sizeHint(n))
					}
					created = false
				}
			}
			sim, err := loadersim.New(cfg)
			if err != nil {
				return usageError{err}
			}
			defer sim.Close()
			if !blank && created {
				sim.SetFlash(0x8000, defaultTable())
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			defer ln.Close()
			where := "in memory"
			if flash != "" {
				where = flash
			}
			fmt.Fprintf(env.Stdout, "Simulating an %s ROM loader on socket://%s (flash %s, %d MiB); Ctrl-C stops it\n",
				sim.ChipName(), ln.Addr(), where, cfg.FlashSize>>20)
			ctx, stop := signal.NotifyContext(env.ctx(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() { <-ctx.Done(); ln.Close() }()
			return sim.ServeListenerWith(ln, loadersim.ServeOptions{Sessions: sessions, IdleTimeout: idle,
				Log: func(s string) { fmt.Fprintln(env.Stderr, s) }})
		},
	}
	c.Flags().StringVar(&chip, "chip", "esp32", "chip to simulate: "+strings.Join(loadersim.ChipNames(), ", "))
	c.Flags().StringVar(&flash, "flash", "", "file holding the flash content (created if missing); default: in memory")
	c.Flags().StringVar(&flashSize, "flash-size", "", "flash size, 1MB..128MB (default 4MB, or the file's size)")
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:5555", "address to listen on")
	c.Flags().IntVar(&baud, "baud", 0, "emulate a UART at this baud rate (0: as fast as the socket)")
	c.Flags().BoolVar(&encryption, "flash-encryption", false, "report flash encryption on (chips that report security info)")
	c.Flags().BoolVar(&remote, "allow-remote", false, "allow a non-loopback --listen address")
	c.Flags().BoolVar(&blank, "blank", false, "do not put a default partition table into a blank flash")
	c.Flags().DurationVar(&idle, "idle-timeout", loadersim.DefaultIdleTimeout, "close a connection whose client sends nothing for this long (0: never)")
	c.Flags().IntVar(&sessions, "sessions", 0, "exit after this many sessions (0: run until interrupted)")
	c.Flags().Lookup("sessions").Hidden = true
	return c
}

// flashFileSize returns the size of the --flash file, whether it exists, and an error when it is
// not a regular file.
func flashFileSize(path, name string) (int64, bool, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if !st.Mode().IsRegular() {
		return 0, true, fmt.Errorf("%s is not a regular file; give a flash dump file or a new file name", name)
	}
	return st.Size(), true, nil
}

func validFlashSize(n int64) bool {
	for _, s := range partition.FlashSizes {
		if v, err := partition.ParseFlashSize(s); err == nil && int64(v) == n {
			return true
		}
	}
	return false
}

func sizeHint(n int64) string {
	if validFlashSize(n) {
		return fmt.Sprintf(", or --flash-size %dMB to match the file", n>>20)
	}
	return ""
}
