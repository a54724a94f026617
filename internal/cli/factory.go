//go:build !nofactory

package cli

import "github.com/spf13/cobra"

// factoryCmds are the factory line's commands. They link the SQL drivers (SQLite and
// PostgreSQL), whose package initialisation costs every nvskit command some start-up time;
// a build with the tag nofactory leaves them out.
func factoryCmds(env *Env) []*cobra.Command {
	return []*cobra.Command{newLedgerCmd(env), newStationCmd(env)}
}
