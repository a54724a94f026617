package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/flashcrypt"
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
	var chip, flash, flashSize, listen, mac string
	var baud, sessions int
	var idle time.Duration
	var remote, blank bool
	var sf simSecFlags
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
It listens on loopback addresses only, unless --allow-remote is given.

Security state: --flash-encryption development|release turns flash encryption
on (release also disables encrypted download); the chip encrypts the ROM's
encrypted writes with --flash-key FILE (an espsecure key file), or with a random
key of its own, as a chip makes on its first boot. Reads return the raw flash,
as a chip's do. A new flash's partition table is then stored encrypted, as the
bootloader leaves it. --key-purpose N=PURPOSE sets eFuse key block N's purpose
(e.g. 1=HMAC_UP); --secure-download, --secure-boot,
--encrypted-download-disabled and --no-flash-key set the rest.`,
		Example: `  nvskit simulate --chip esp32 --flash flash.bin --listen 127.0.0.1:5555
  nvskit simulate --chip esp32s3 --mac 02:00:00:00:00:01 --listen 127.0.0.1:5556
  nvskit flash nvs.bin --port socket://127.0.0.1:5555 --partition nvs
  nvskit simulate --chip esp32c3 --flash-encryption development --flash-key flash_key.bin --key-purpose 1=HMAC_UP`,
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
			cfg := loadersim.Config{Chip: chip, FlashSize: size, Baud: baud}
			if err := sf.apply(env, &cfg); err != nil {
				return err
			}
			if mac != "" {
				hw, err := net.ParseMAC(mac)
				if err != nil || len(hw) != 6 {
					return usagef("--mac %q: give 6 bytes, e.g. 02:00:00:00:00:01", mac)
				}
				cfg.MAC = hw
			}
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
				if err := putTable(sim, defaultTable()); err != nil {
					return err
				}
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
	c.Flags().StringVar(&flash, "flash", "", "file holding the flash content (created with mode 0600 if missing); default: in memory")
	c.Flags().StringVar(&flashSize, "flash-size", "", "flash size, 1MB..128MB (default 4MB, or the file's size)")
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:5555", "address to listen on")
	c.Flags().StringVar(&mac, "mac", "", "the chip's base MAC, e.g. 02:00:00:00:00:01 (default: one derived from the chip type)")
	c.Flags().IntVar(&baud, "baud", 0, "emulate a UART at this baud rate (0: as fast as the socket)")
	sf.register(c)
	c.Flags().BoolVar(&remote, "allow-remote", false, "allow a non-loopback --listen address")
	c.Flags().BoolVar(&blank, "blank", false, "do not put a default partition table into a blank flash")
	c.Flags().DurationVar(&idle, "idle-timeout", loadersim.DefaultIdleTimeout, "close a connection whose client sends nothing for this long (0: never)")
	c.Flags().IntVar(&sessions, "sessions", 0, "exit after this many sessions (0: run until interrupted)")
	c.Flags().Lookup("sessions").Hidden = true
	return c
}

// simSecFlags are simulate's security-state flags.
type simSecFlags struct {
	fe, flashKey                     string
	purposes                         []string
	sdm, secureBoot, dlEncDis, noKey bool
}

func (f *simSecFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.fe, "flash-encryption", "off", "flash encryption: off, development or release")
	c.Flags().StringVar(&f.flashKey, "flash-key", "", "key file the chip encrypts with, as espsecure uses it (default: a random key of the chip's own)")
	c.Flags().StringArrayVar(&f.purposes, "key-purpose", nil, "eFuse key block purpose, N=PURPOSE (e.g. 1=HMAC_UP, 0=XTS_AES_128_KEY); repeatable")
	c.Flags().BoolVar(&f.sdm, "secure-download", false, "Secure Download Mode (S2 and later): reads, register access and MD5 refused")
	c.Flags().BoolVar(&f.secureBoot, "secure-boot", false, "secure boot on")
	c.Flags().BoolVar(&f.dlEncDis, "encrypted-download-disabled", false, "encrypted download disabled in eFuse (without the rest of release mode)")
	c.Flags().BoolVar(&f.noKey, "no-flash-key", false, "no flash-encryption key burnt")
}

func (f *simSecFlags) apply(env *Env, cfg *loadersim.Config) error {
	switch f.fe {
	case "off", "":
	case "development":
		cfg.FlashEncryption = true
	case "release":
		cfg.FlashEncryption, cfg.Release = true, true
	default:
		return usagef("--flash-encryption %q: choose off, development or release", f.fe)
	}
	if f.flashKey != "" {
		k, err := readKeyFile(env, f.flashKey, "--flash-key", 64)
		if err != nil {
			return err
		}
		cfg.FlashKey = k
	}
	for _, kp := range f.purposes {
		n, name, ok := strings.Cut(kp, "=")
		idx, err := strconv.Atoi(strings.TrimPrefix(strings.ToUpper(n), "BLOCK_KEY"))
		v, okName := esploader.PurposeByName(strings.ToUpper(name))
		if !ok || err != nil || !okName {
			return usagef("--key-purpose %q: give N=PURPOSE, e.g. 1=HMAC_UP or 0=XTS_AES_128_KEY", kp)
		}
		if cfg.KeyPurposes == nil {
			cfg.KeyPurposes = map[int]uint8{}
		}
		cfg.KeyPurposes[idx] = v
	}
	cfg.SecureDownload, cfg.SecureBoot, cfg.DownloadEncryptDisabled, cfg.NoFlashKey = f.sdm, f.secureBoot, f.dlEncDis, f.noKey
	return nil
}

// putTable stores a partition table at 0x8000 as the chip's bootloader leaves it: encrypted
// with the chip's key when flash encryption is on.
func putTable(sim *loadersim.Sim, table []byte) error {
	key := sim.FlashKey()
	if !sim.FlashEncryption() || key == nil {
		sim.SetFlash(0x8000, table)
		return nil
	}
	sector := padFF(table, 0x1000)
	ct, err := flashcrypt.Encrypt(flashcrypt.SchemeForChip(sim.ChipName()), key, 0x8000, sector)
	if err != nil {
		return err
	}
	sim.SetFlash(0x8000, ct)
	return nil
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
