package cli

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/nvs"
)

// parseSize parses a partition size the way nvs_partition_gen does (Python int(s, 0)):
// decimal, 0x hex, 0o octal or 0b binary, with optional '_' separators.
func parseSize(s string) (int, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	n, ok := new(big.Int).SetString(t, 0)
	if !ok || strings.Contains(s, "__") || (len(t) > 1 && t[0] == '0' && t[1] >= '0' && t[1] <= '9') {
		return 0, usagef("SIZE %q is not a number; give bytes in decimal or 0x hex, e.g. 0x6000", s)
	}
	if n.Sign() < 0 {
		return 0, usagef("SIZE %q is out of range", s)
	}
	if !n.IsInt64() || n.Int64() > nvs.MaxSize {
		return 0, usagef("SIZE %s is larger than %d MiB, the largest flash of any ESP chip; give the NVS partition's size (usually 0x3000 to 0x10000), not the flash's", s, nvs.MaxSize>>20)
	}
	return int(n.Int64()), nil
}

// argCountError is the one wording of every argument-count error: the command, how many
// arguments it got, its usage line, and a hint when one helps.
func argCountError(c *cobra.Command, got int, hint string) error {
	if hint != "" {
		hint = " (" + hint + ")"
	}
	name := strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
	return argsError{usagef("%s: %s given; usage: %s%s", name, plural(got, "argument"), c.UseLine(), hint).(usageError)}
}

// argsError is an argument-count error made by argCountError: a usage error (exit 2).
type argsError struct{ usageError }

// Unwrap lets errors.As find the usageError.
func (e argsError) Unwrap() error { return e.usageError }

// warnLargeSize warns about an NVS partition size above nvs.LargeSize: possible, but more
// often the flash size given by mistake.
func warnLargeSize(env *Env, size int) {
	if size > nvs.LargeSize {
		fmt.Fprintf(env.Stderr, "warning: SIZE 0x%x is %.1f MiB; NVS partitions are rarely larger than 1 MiB (is it the flash size rather than the partition's?)\n",
			size, float64(size)/(1<<20))
	}
}

func humanBytes(n int) string {
	switch {
	case n >= 10*1024:
		return fmt.Sprintf("%.0f KiB", float64(n)/1024)
	case n >= 1024:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%d bytes", n)
}
