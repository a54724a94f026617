package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/port"
)

func newDeviceCmd(env *Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "device",
		Short: "Ask a device about itself",
	}
	c.AddCommand(newDeviceInfoCmd(env))
	return c
}

// deviceInfo is what device info prints (also as JSON).
type deviceInfo struct {
	Port            string `json:"port"`
	Chip            string `json:"chip"`
	MAC             string `json:"mac,omitempty"`
	FlashSize       int    `json:"flash_size,omitempty"`
	FlashID         string `json:"flash_id,omitempty"`
	Security        bool   `json:"security_reported"`
	FlashEncryption *bool  `json:"flash_encryption,omitempty"`
	SecureBoot      *bool  `json:"secure_boot,omitempty"`
	SecureDownload  *bool  `json:"secure_download_mode,omitempty"`
	FlashCryptCnt   *uint8 `json:"flash_crypt_cnt,omitempty"`
	// State is the full security state (GET_SECURITY_INFO and the eFuse registers).
	State *esploader.Security `json:"security,omitempty"`
}

func newDeviceInfoCmd(env *Env) *cobra.Command {
	var df devFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "info --port PORT",
		Short: "Show the chip, its MAC, flash size and security state",
		Long: `Connect to the device's ROM loader and show the chip, its base MAC address from
eFuse, the flash size (from the flash chip's JEDEC id) and the security state:
flash encryption (on or off, development or release mode, from the crypt
counter), whether encrypted download is disabled, secure boot, Secure Download
Mode, and each eFuse key block with its purpose (which holds the flash-encryption
key, which an HMAC key for NVS). Chips from the ESP32-S2 on report part of it
with GET_SECURITY_INFO; the rest is read from the eFuse registers, which the
ESP32 has only. In Secure Download Mode registers cannot be read: what is
unknown is shown as such.`,
		Example: `  nvskit device info --port /dev/ttyUSB0
  nvskit device info --port socket://127.0.0.1:5555 --json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			df.baud = port.DefaultBaud
			d, err := df.connect(env)
			if err != nil {
				return err
			}
			defer d.Close()
			l := d.l
			info := deviceInfo{Port: df.port, Chip: l.Chip().Name}
			_, info.Security = l.SecurityInfo()
			sec, err := d.security()
			if err != nil {
				return err
			}
			info.State = sec
			fe, sb, sd, cnt := sec.FlashEncryption, sec.SecureBoot, sec.SecureDownload, sec.FlashCryptCnt
			info.FlashEncryption, info.SecureBoot, info.SecureDownload, info.FlashCryptCnt = &fe, &sb, &sd, &cnt
			info.MAC = sec.MAC
			if !sec.SecureDownload {
				if id, err := l.FlashID(); err == nil {
					info.FlashID = fmt.Sprintf("%06X", id)
					if n, err := l.DetectFlashSize(); err == nil {
						info.FlashSize = n
					}
				} else {
					fmt.Fprintln(env.Stderr, "note: cannot read the flash id:", err)
				}
			}
			if asJSON {
				e := json.NewEncoder(env.Stdout)
				e.SetIndent("", "  ")
				return e.Encode(info)
			}
			writeDeviceInfo(env.Stdout, &info)
			return nil
		},
	}
	df.register(c)
	c.Flags().Lookup("baud").Hidden = true
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// writeDeviceInfo is device info's text face.
func writeDeviceInfo(w io.Writer, info *deviceInfo) {
	s := info.State
	fmt.Fprintf(w, "Chip:        %s\n", info.Chip)
	if info.MAC != "" {
		fmt.Fprintf(w, "MAC:         %s\n", info.MAC)
	} else {
		fmt.Fprintf(w, "MAC:         unknown (Secure Download Mode refuses eFuse reads)\n")
	}
	if info.FlashSize > 0 {
		fmt.Fprintf(w, "Flash:       %d MiB (JEDEC id %s)\n", info.FlashSize>>20, info.FlashID)
	} else if info.FlashID != "" {
		fmt.Fprintf(w, "Flash:       unknown size (JEDEC id %s)\n", info.FlashID)
	}
	enc := "off"
	if s.FlashEncryption {
		enc = "on, " + s.Mode + " mode"
		if s.Mode == "unknown" {
			enc = "on, development or release mode unknown"
		}
	}
	fmt.Fprintf(w, "Encryption:  %s (crypt counter 0x%X)\n", enc, s.FlashCryptCnt)
	fmt.Fprintf(w, "Encrypted download: %s\n", knownBool(s.DownloadEncryptDisabled, "disabled", "allowed", "unknown in Secure Download Mode"))
	key := knownBool(s.FlashKeyPresent, "present", "none burnt", "unknown")
	if ok, why := s.ROMCanEncrypt(); ok {
		key += "; the ROM can encrypt writes (flash --encrypt)"
	} else if s.SecureDownload {
		key += "; no encrypted writes in Secure Download Mode (nothing can be verified there)"
	} else {
		key += "; the ROM cannot encrypt writes (" + why + "): flash --encrypt needs --flash-key"
	}
	fmt.Fprintf(w, "Flash key:   %s\n", key)
	fmt.Fprintf(w, "Secure boot: %s\n", onOff(s.SecureBoot))
	if s.Chip == "ESP32" {
		fmt.Fprintf(w, "Secure download mode: not on the ESP32\n")
		fmt.Fprintf(w, "Download decrypt/cache: %s / %s\n", knownBool(s.DownloadDecryptDisabled, "disabled", "allowed", "unknown"), knownBool(s.DownloadCacheDisabled, "disabled", "allowed", "unknown"))
		if s.FlashCryptConfig != nil {
			fmt.Fprintf(w, "FLASH_CRYPT_CONFIG: 0x%X\n", *s.FlashCryptConfig)
		}
	} else {
		fmt.Fprintf(w, "Secure download mode: %s\n", onOff(s.SecureDownload))
	}
	if s.KeyManager != nil && *s.KeyManager {
		fmt.Fprintf(w, "Key Manager: the flash-encryption key comes from the Key Manager\n")
	}
	if len(s.Keys) > 0 {
		fmt.Fprintf(w, "Key blocks:\n")
		for _, k := range s.Keys {
			purpose := k.PurposeName
			switch {
			case k.Purpose == nil && s.Chip == "ESP32":
				purpose = "flash encryption key"
			case k.Purpose == nil:
				purpose = "flash encryption / secure boot"
			}
			state := knownBool(k.ReadProtected, "read-protected", "", "protection unknown")
			if k.Blank != nil {
				if state != "" {
					state += ", "
				}
				state += map[bool]string{true: "blank", false: "holds data"}[*k.Blank]
			}
			fmt.Fprintf(w, "  %-10s  %-24s %s\n", k.Name, purpose, state)
		}
	}
	fmt.Fprintf(w, "Read from:   %s\n", s.Source)
}

// knownBool names a tri-state value.
func knownBool(b *bool, yes, no, unknown string) string {
	if b == nil {
		return unknown
	}
	if *b {
		return yes
	}
	return no
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func newPortsCmd(env *Env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "ports",
		Short: "List the serial ports of this machine",
		Long: `List the serial ports of this machine, with their USB ids and the USB-serial bridge
an ESP board carries when a port looks like one. Device commands without --port (and
without $NVSKIT_PORT) use the one ESP board found, if there is exactly one.

A macOS build made without cgo lists the /dev/cu.* and /dev/tty.* devices and recognises
ESP boards by the names their drivers give them (cu.usbserial-*, cu.SLAB_USBtoUART,
cu.wchusbserial*, cu.usbmodem*).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			ps, err := port.List()
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]portJSON, 0, len(ps))
				for _, p := range ps {
					out = append(out, portJSON{Name: p.Name, USB: p.USB, VID: p.VID, PID: p.PID, Serial: p.Serial, Product: p.Product, ESP: p.ESP(), Bridge: p.Bridge})
				}
				return writeJSON(env.Stdout, out)
			}
			if len(ps) == 0 {
				fmt.Fprintln(env.Stderr, "No serial ports found. Is the board plugged in, and its USB-serial driver installed?")
				return nil
			}
			if !port.Detailed {
				fmt.Fprintln(env.Stderr, "This build lists ports without their USB ids; ESP boards are recognised by their drivers' device names.")
			}
			for _, p := range ps {
				line := p.Name
				if p.USB && p.VID != "" {
					line += fmt.Sprintf("  USB %s:%s", p.VID, p.PID)
					if p.Product != "" {
						line += "  " + p.Product
					}
				}
				if p.Bridge != "" {
					line += "  (likely an ESP board: " + p.Bridge + ")"
				}
				fmt.Fprintln(env.Stdout, line)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// portJSON is one port of "ports --json".
type portJSON struct {
	Name    string `json:"name"`
	USB     bool   `json:"usb"`
	VID     string `json:"vid,omitempty"`
	PID     string `json:"pid,omitempty"`
	Serial  string `json:"serial,omitempty"`
	Product string `json:"product,omitempty"`
	ESP     bool   `json:"esp"`
	Bridge  string `json:"bridge,omitempty"`
}
