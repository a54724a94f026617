package cli

import (
	"fmt"
	"math/big"
	"strings"
)

// parseSize parses a partition size the way nvs_partition_gen does (Python int(s, 0)):
// decimal, 0x hex, 0o octal or 0b binary, with optional '_' separators.
func parseSize(s string) (int, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	n, ok := new(big.Int).SetString(t, 0)
	if !ok || strings.Contains(s, "__") || (len(t) > 1 && t[0] == '0' && t[1] >= '0' && t[1] <= '9') {
		return 0, usagef("SIZE %q is not a number; give bytes in decimal or 0x hex, e.g. 0x6000", s)
	}
	if n.Sign() < 0 || !n.IsInt64() || n.Int64() > 1<<32 {
		return 0, usagef("SIZE %q is out of range", s)
	}
	return int(n.Int64()), nil
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
