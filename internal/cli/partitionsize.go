package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// partitionFlags are --partition-table and --partition: take an NVS image's size from a
// partition of the project's table instead of (or as well as) the SIZE argument.
type partitionFlags struct {
	table, name string
}

func (p *partitionFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&p.table, "partition-table", "", "partition table (CSV, binary or flash dump) to take SIZE from; needs --partition")
	c.Flags().StringVar(&p.name, "partition", "", "name of the NVS partition in --partition-table (e.g. nvs)")
}

// splitArgs splits INPUT... OUTPUT [SIZE] into inputs, output and size. Without
// --partition-table SIZE is required; with it SIZE is the partition's size, and a SIZE given
// too must be the same.
func (p *partitionFlags) splitArgs(c *cobra.Command, env *Env, args []string) (inputs []string, output string, size int, err error) {
	n := len(args)
	if p.table == "" && p.name == "" {
		if n < 3 {
			return nil, "", 0, argCountError(c, n, "or take SIZE from the partition table with --partition-table and --partition")
		}
		size, err = parseSize(args[n-1])
		return args[:n-2], args[n-2], size, err
	}
	if p.table == "" || p.name == "" {
		return nil, "", 0, usagef("--partition-table and --partition go together (the table, and the NVS partition's name in it)")
	}
	sizeArg := ""
	if n >= 3 {
		if s, err := parseSize(args[n-1]); err == nil {
			sizeArg, size = args[n-1], s
			args = args[:n-1]
			n--
		}
	}
	if n < 2 {
		return nil, "", 0, argCountError(c, n, "")
	}
	part, err := nvsPartition(env, p.table, p.name)
	if err != nil {
		return nil, "", 0, usageError{err}
	}
	if sizeArg != "" && size != int(part.Size) {
		return nil, "", 0, usagef("SIZE %s (0x%x) differs from the size of partition %q in %s (0x%x); drop SIZE or fix one of them",
			sizeArg, size, part.Name, p.table, part.Size)
	}
	fmt.Fprintf(env.Stderr, "note: partition %q in %s: offset 0x%x, size 0x%x\n", part.Name, p.table, part.Offset, part.Size)
	return args[:n-1], args[n-1], int(part.Size), nil
}
