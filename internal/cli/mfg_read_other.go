//go:build !unix

package cli

import "os"

// readSmallFile reads a whole file.
func readSmallFile(path string) ([]byte, error) { return os.ReadFile(path) }
