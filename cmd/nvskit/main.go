// Command nvskit makes, inspects, encrypts and flashes ESP32 NVS partitions.
// Run "nvskit --help" for the commands.
package main

import (
	"os"

	"github.com/nvskit/nvskit/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
