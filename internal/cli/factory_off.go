//go:build nofactory

package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// factoryCmds, in a build with the tag nofactory, are placeholders that say so.
func factoryCmds(env *Env) []*cobra.Command {
	var out []*cobra.Command
	for _, name := range []string{"ledger", "station"} {
		out = append(out, &cobra.Command{
			Use:                name,
			Short:              "Not in this build (built with the tag nofactory)",
			DisableFlagParsing: true,
			RunE: func(*cobra.Command, []string) error {
				return errors.New("this nvskit was built without the factory line (build tag nofactory); use a standard build for nvskit " + name)
			},
		})
	}
	return out
}
