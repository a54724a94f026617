package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nvskit/nvskit/flashcrypt"
	"github.com/nvskit/nvskit/internal/fsutil"
)

// FlashDataSchema names the version of encrypt-flash-data's and decrypt-flash-data's --json
// document.
const FlashDataSchema = "nvskit-flash-data/1"

// maxFlashData is the largest input encrypt-flash-data reads: more than any ESP32-family
// flash chip holds.
const maxFlashData = 256 << 20

// flashDataFlags are the options espsecure's encrypt-flash-data and decrypt-flash-data take.
type flashDataFlags struct {
	keyfile string
	address string
	output  string
	conf    string
	xts     bool
	force   bool
	asJSON  bool
}

func (f *flashDataFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVarP(&f.keyfile, "keyfile", "k", "", "file holding the flash-encryption key, as burnt with espefuse (ESP32: 32 or 24 bytes; --aes-xts: 16, 32 or 64 bytes)")
	fl.StringVarP(&f.address, "address", "a", "", "the flash address the data is (or will be) stored at, a multiple of 16 (decimal or 0x hex)")
	fl.StringVarP(&f.output, "output", "o", "", "output file (created with mode 0600; \"-\" for standard output)")
	fl.StringVar(&f.conf, "flash-crypt-conf", "0xF", "ESP32 only: the FLASH_CRYPT_CONFIG eFuse value, 0..0xF")
	fl.BoolVarP(&f.xts, "aes-xts", "x", false, "use the XTS-AES scheme of the ESP32-S2, -S3, -C2, -C3, -C5, -C6, -H2 and -P4 (default: the ESP32's scheme)")
	fl.BoolVar(&f.force, "force", false, forceHelp)
	fl.BoolVar(&f.asJSON, "json", false, "print a JSON summary (schema "+FlashDataSchema+") instead of text")
	// espsecure v4 spelled the options with underscores (--flash_crypt_conf, --aes_xts).
	fl.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		return pflag.NormalizedName(strings.ReplaceAll(name, "_", "-"))
	})
}

// check reports the missing required options as a usage error.
func (f *flashDataFlags) check() error {
	var missing []string
	for _, o := range []struct{ name, v string }{{"--keyfile", f.keyfile}, {"--address", f.address}, {"--output", f.output}} {
		if o.v == "" {
			missing = append(missing, o.name)
		}
	}
	if len(missing) > 0 {
		return usagef("missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// flashDataResult is what encrypt-flash-data and decrypt-flash-data report.
type flashDataResult struct {
	Schema    string `json:"schema"`
	Operation string `json:"operation"` // "encrypt" or "decrypt"
	Input     string `json:"input"`
	Output    string `json:"output"`
	Scheme    string `json:"scheme"` // "esp32" or "xts-aes"
	KeyBits   int    `json:"key_bits"`
	Extended  bool   `json:"key_extended"`
	CryptConf *uint8 `json:"flash_crypt_conf,omitempty"`
	Address   uint32 `json:"address"`
	Bytes     int    `json:"bytes"`
	// Padded is the number of 0xFF bytes added to reach a whole 16-byte block (ESP32 only).
	Padded int `json:"padded"`
}

func newEncryptFlashDataCmd(env *Env) *cobra.Command {
	return newFlashDataCmd(env, false)
}

func newFlashDataCmd(env *Env, decrypt bool) *cobra.Command {
	var f flashDataFlags
	op, Op := "encrypt", "Encrypt"
	if decrypt {
		op, Op = "decrypt", "Decrypt"
	}
	c := &cobra.Command{
		Use:   op + "-flash-data --keyfile KEY.bin --address ADDR --output OUT.bin [--aes-xts] [--flash-crypt-conf N] INPUT.bin",
		Short: Op + " data with a known flash-encryption key, as the chip does (drop-in for espsecure " + op + "-flash-data)",
		Long: Op + ` data the way a chip's flash encryption does, with a key you hold (the file
given to espefuse burn-key): byte for byte what espsecure ` + op + `-flash-data gives.
The result depends on the absolute flash address, so --address must be where the
data is stored. Without --aes-xts the ESP32 scheme is used (AES-256 with the key
tweaked by the address and FLASH_CRYPT_CONFIG); with --aes-xts the XTS-AES scheme
of every later chip. Addresses and lengths are multiples of 16.

Differences from espsecure, all on purpose:
  - an ESP32 input whose length is not a multiple of 16 is padded with 0xFF (what
    erased flash holds), not with random bytes, so the output is reproducible; a
    note says how many bytes were added (decryption and --aes-xts refuse such input,
    as espsecure does);
  - empty input is refused in both schemes;
  - ESP32 addresses of 16 MiB and above are refused (espsecure's key tweak is wrong
    there);
  - the output is created with mode 0600, an existing file is replaced only with
    --force, and an input is never overwritten; on error nothing is written.

The v4 spellings ` + op + `_flash_data, --flash_crypt_conf and --aes_xts are accepted too.`,
		Example: `  nvskit ` + op + `-flash-data --keyfile flash_key.bin --address 0xF000 --output out.bin --aes-xts nvs_keys.bin
  nvskit ` + op + `-flash-data -k flash_key.bin -a 0x10000 -o out.bin app.bin`,
		// espsecure v4 spelled the command with underscores.
		Aliases: []string{op + "_flash_data"},
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return runFlashData(env, &f, c.Flags().Changed("flash-crypt-conf"), decrypt, args[0])
		},
	}
	f.register(c)
	markWrites(c)
	return c
}

func runFlashData(env *Env, f *flashDataFlags, confGiven, decrypt bool, input string) error {
	if err := f.check(); err != nil {
		return err
	}
	addr64, err := strconv.ParseUint(f.address, 0, 32)
	if err != nil {
		return usagef("--address %q: not a flash address (decimal or 0x hex, below 4 GiB)", f.address)
	}
	addr := uint32(addr64)
	conf64, err := strconv.ParseUint(f.conf, 0, 8)
	if err != nil || conf64 > 0xF {
		return usagef("--flash-crypt-conf %q: must be 0..0xF", f.conf)
	}
	conf := uint8(conf64)
	scheme := flashcrypt.SchemeESP32
	if f.xts {
		scheme = flashcrypt.SchemeXTS
		if confGiven {
			fmt.Fprintln(env.Stderr, "warning: --flash-crypt-conf is ignored with --aes-xts: the XTS chips have no FLASH_CRYPT_CONFIG")
		}
	} else if conf == 0 {
		fmt.Fprintln(env.Stderr, "warning: FLASH_CRYPT_CONFIG 0 disables the key tweak; it is not recommended")
	}
	out := f.output
	toStdout := out == "-"
	if !toStdout {
		out = env.Path(out)
		inputs := []string{env.Path(f.keyfile)}
		if input != "-" {
			inputs = append(inputs, env.Path(input))
		}
		if err := fsutil.CheckNotInput(out, inputs...); err != nil {
			return err
		}
		if err := checkNewOutput(out, f.force); err != nil {
			return err
		}
	}
	key, err := readKeyFile(env, f.keyfile, "--keyfile", 64)
	if err != nil {
		return err
	}
	ciph, err := flashcrypt.New(scheme, key, conf)
	if err != nil {
		if !f.xts && (len(key) == 16 || len(key) == 64) {
			return fmt.Errorf("%s: %w; for the ESP32-S2 and later chips pass --aes-xts", f.keyfile, err)
		}
		return fmt.Errorf("%s: %w", f.keyfile, err)
	}
	data, err := readInputLimited(env, input, maxFlashData)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return fmt.Errorf("%s is empty: nothing to %s", input, op(decrypt))
	}
	padded := 0
	if !decrypt && scheme == flashcrypt.SchemeESP32 && len(data)%flashcrypt.BlockSize != 0 {
		p := flashcrypt.PadFF(data)
		padded = len(p) - len(data)
		data = p
	}
	res := make([]byte, len(data))
	if decrypt {
		err = ciph.Decrypt(res, data, addr)
	} else {
		err = ciph.Encrypt(res, data, addr)
	}
	if err != nil {
		return fmt.Errorf("%s at 0x%X: %w", input, addr, err)
	}
	if toStdout {
		if _, err := env.Stdout.Write(res); err != nil {
			return err
		}
	} else if err := writeSecretOutput(env, out, res, f.force); err != nil {
		return err
	}
	r := flashDataResult{
		Schema: FlashDataSchema, Operation: op(decrypt), Input: input, Output: f.output,
		Scheme: scheme.String(), KeyBits: ciph.KeyBits(), Extended: ciph.Extended(),
		Address: addr, Bytes: len(res), Padded: padded,
	}
	if scheme == flashcrypt.SchemeESP32 {
		r.CryptConf = &conf
	}
	// With the data on standard output, the report goes to standard error.
	w := env.Stdout
	if toStdout {
		w = env.Stderr
	}
	if f.asJSON {
		return writeJSON(w, r)
	}
	ext := ""
	if r.Extended {
		ext = " (extended)"
	}
	fmt.Fprintf(w, "Using %d-bit key%s.\n", r.KeyBits, ext)
	if padded > 0 {
		fmt.Fprintf(w, "Note: %s is %d bytes, not a multiple of 16: padded with %d bytes of 0xFF (espsecure pads with random bytes).\n", input, len(data)-padded, padded)
	}
	how := "XTS-AES"
	if scheme == flashcrypt.SchemeESP32 {
		how = fmt.Sprintf("ESP32 scheme, FLASH_CRYPT_CONFIG 0x%X", conf)
	}
	fmt.Fprintf(w, "%sed %d bytes for flash address 0x%X (%s): %s\n", capitalize(op(decrypt)), len(res), addr, how, f.output)
	return nil
}

func op(decrypt bool) string {
	if decrypt {
		return "decrypt"
	}
	return "encrypt"
}

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// checkNewOutput refuses to replace an existing file without --force.
func checkNewOutput(path string, force bool) error {
	return checkNew(fsutil.Options{Force: force}, path)
}

// writeSecretOutput writes data atomically to path with mode 0600 (less the umask), replacing
// an existing file only with force. It is the one place the flash-data commands write a file.
func writeSecretOutput(env *Env, path string, data []byte, force bool) error {
	return writeOutput(path, data, fsutil.Options{Mode: 0o600, Force: force, Made: env.made, Context: env.ctx()})
}

// readKeyFile reads a key file of at most limit bytes through fsutil.ReadFile: regular files
// only (a FIFO would block, a device like /dev/zero never ends), opened without blocking, so
// a file swapped for a FIFO between the check and the open is refused too. what names the
// option ("--keyfile") in the message.
func readKeyFile(env *Env, name, what string, limit int64) ([]byte, error) {
	b, err := fsutil.ReadFile(env.Path(name), limit, "a key file")
	if err != nil {
		return nil, inputError(what, name, err)
	}
	return b, nil
}

// inputError names the option and the file of an input that could not be read.
func inputError(what, name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s %s: no such file", what, name)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// readInputLimited reads the input file ("-": standard input) through a limit.
func readInputLimited(env *Env, name string, limit int64) ([]byte, error) {
	if name != "-" {
		b, err := fsutil.ReadFile(env.Path(name), limit, "flash data (more than any flash chip holds)")
		if err != nil {
			return nil, inputError("input", name, err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(env.Stdin, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d MiB, more than any flash chip holds", name, limit>>20)
	}
	return b, nil
}
