package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

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
}

func newDeviceInfoCmd(env *Env) *cobra.Command {
	var df devFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "info --port PORT",
		Short: "Show the chip, its MAC, flash size and security state",
		Long: `Connect to the device's ROM loader and show the chip, its base MAC address from
eFuse, the flash size (from the flash chip's JEDEC id) and, on chips whose ROM
reports it (ESP32-S2 and later), the security state: flash encryption, secure
boot, Secure Download Mode.`,
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
			si, hasSI := l.SecurityInfo()
			if hasSI {
				info.Security = true
				fe, sb, sd, cnt := si.FlashEncryption(), si.SecureBoot(), si.SecureDownload(), si.FlashCryptCnt
				info.FlashEncryption, info.SecureBoot, info.SecureDownload, info.FlashCryptCnt = &fe, &sb, &sd, &cnt
			}
			if !hasSI || !si.SecureDownload() {
				if mac, err := l.MAC(); err == nil {
					info.MAC = mac.String()
				} else {
					fmt.Fprintln(env.Stderr, "note: cannot read the MAC:", err)
				}
				if id, err := l.FlashID(); err == nil {
					info.FlashID = fmt.Sprintf("%06X", id)
					if n, err := l.DetectFlashSize(); err == nil {
						info.FlashSize = n
					}
				} else {
					fmt.Fprintln(env.Stderr, "note: cannot read the flash id:", err)
				}
			}
			if !hasSI {
				if on, err := l.FlashEncryption(); err == nil {
					info.FlashEncryption = &on
				}
			}
			if asJSON {
				e := json.NewEncoder(env.Stdout)
				e.SetIndent("", "  ")
				return e.Encode(info)
			}
			w := env.Stdout
			fmt.Fprintf(w, "Chip:        %s\n", info.Chip)
			if info.MAC != "" {
				fmt.Fprintf(w, "MAC:         %s\n", info.MAC)
			}
			if info.FlashSize > 0 {
				fmt.Fprintf(w, "Flash:       %d MiB (JEDEC id %s)\n", info.FlashSize>>20, info.FlashID)
			} else if info.FlashID != "" {
				fmt.Fprintf(w, "Flash:       unknown size (JEDEC id %s)\n", info.FlashID)
			}
			if !hasSI {
				if info.FlashEncryption != nil {
					fmt.Fprintf(w, "Encryption:  %s (FLASH_CRYPT_CNT eFuse)\n", onOff(*info.FlashEncryption))
				}
				fmt.Fprintf(w, "Security:    secure boot and download mode are not reported by the %s ROM\n", info.Chip)
				return nil
			}
			fmt.Fprintf(w, "Encryption:  %s (FLASH_CRYPT_CNT 0x%X)\n", onOff(*info.FlashEncryption), *info.FlashCryptCnt)
			fmt.Fprintf(w, "Secure boot: %s\n", onOff(*info.SecureBoot))
			fmt.Fprintf(w, "Secure download mode: %s\n", onOff(*info.SecureDownload))
			return nil
		},
	}
	df.register(c)
	c.Flags().Lookup("baud").Hidden = true
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
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
