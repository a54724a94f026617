//go:build !unix

package mfg

import "time"

// cpuTime is not measured here.
func cpuTime() time.Duration { return 0 }
