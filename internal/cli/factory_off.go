//go:build nofactory

package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// A build with the tag nofactory leaves out the factory line's commands, and with them the
// SQL drivers, whose package initialisation costs every nvskit command some start-up time.
// These placeholders say so.

func newLedgerCmd(*Env) *cobra.Command  { return factoryOff("ledger") }
func newStationCmd(*Env) *cobra.Command { return factoryOff("station") }

func factoryOff(name string) *cobra.Command {
	return &cobra.Command{
		Use:                name,
		Short:              "Not in this build (built with the tag nofactory)",
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("this nvskit was built without the factory line (build tag nofactory); use a standard build for nvskit " + name)
		},
	}
}
