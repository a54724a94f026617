//go:build darwin && !cgo

package port

// detailed: the serial library's macOS enumerator needs cgo (IOKit); without it the ports are
// the /dev/cu.* and /dev/tty.* devices, recognised as ESP boards by their driver's names.
const detailed = false

func list() ([]Info, error) { return scanDev("/dev", darwinPrefixes, true) }
