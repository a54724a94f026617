// Command nvskit makes, inspects, encrypts and flashes ESP32 NVS partitions.
// Run "nvskit --help" for the commands.
package main

import (
	"os"

	"github.com/nvskit/nvskit/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], cli.Env{
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Terminal: cli.IsTerminal(os.Stderr),
	}))
}
