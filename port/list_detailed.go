//go:build !darwin || cgo

package port

import (
	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"
)

// detailed: this build lists ports with the serial library's USB enumerator (sysfs on Linux,
// SetupAPI on Windows, IOKit through cgo on macOS).
const detailed = true

func list() ([]Info, error) {
	ds, err := enumerator.GetDetailedPortsList()
	if err != nil {
		// The BSDs have no detailed enumerator: fall back to the plain list of device names.
		names, err2 := serial.GetPortsList()
		if err2 != nil {
			return nil, err
		}
		out := make([]Info, len(names))
		for i, n := range names {
			out[i] = Info{Name: n}
		}
		return out, nil
	}
	out := make([]Info, 0, len(ds))
	for _, d := range ds {
		out = append(out, Info{Name: d.Name, USB: d.IsUSB, VID: d.VID, PID: d.PID, Serial: d.SerialNumber, Product: d.Product})
	}
	return out, nil
}
