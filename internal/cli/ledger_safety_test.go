//go:build !nofactory && (linux || darwin)

package cli

import "testing"

// The factory commands in the file rules' lists.
func init() {
	writers = append(writers, writer{cmd: "ledger export", args: []string{"ledger", "export", "--format", "json", "-o", "ARG"}, arg: "devices.json",
		setup: func(t *testing.T, dir string) {
			if code, _, stderr := runIn(t, dir, "ledger", "init"); code != 0 {
				t.Fatalf("ledger init: %s", stderr)
			}
		}})
	for cmd, why := range map[string]string{
		"ledger init":    "creates the ledger database (0600), its job's storage, or migrates it in place; never replaces a file",
		"ledger import":  "changes the ledger database in place, in one transaction",
		"ledger add":     "changes the ledger database in place, in one transaction",
		"ledger release": "changes the ledger database in place, in one transaction",
		"ledger status":  "",
		"ledger show":    "",
		"station":        "writes devices and the ledger database, no file",
	} {
		notWriters[cmd] = why
	}
}
