//go:build !nofactory

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Ctrl-C during ledger import's check of a long VALUES.csv (a certificate issued per row) stops
// it between rows, with 130 and "interrupted", and imports nothing; without the check between
// rows it ran on through every row.
func TestLedgerImportInterrupted(t *testing.T) {
	dir := ledgerDir(t)
	os.WriteFile(filepath.Join(dir, "cconf.csv"), []byte("certs,namespace,\nserial,data,string\ndevice_cert,x509_cert,string\ndevice_key,x509_key,string\n"), 0o644)
	var vals bytes.Buffer
	vals.WriteString("serial\n")
	for i := 0; i < 200_000; i++ {
		fmt.Fprintf(&vals, "C%06d\n", i)
	}
	os.WriteFile(filepath.Join(dir, "cvals.csv"), vals.Bytes(), 0o644)
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(300*time.Millisecond, func() { cancel(Interrupt{Signal: os.Interrupt}) })
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run([]string{"ledger", "import", "cvals.csv", "--config", "cconf.csv", "--fileid", "serial"},
			Env{Dir: dir, Stdout: &out, Stderr: &errb, Context: ctx})
	}()
	select {
	case code := <-done:
		if code != 130 || !strings.Contains(errb.String(), "interrupted") {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ledger import still checking rows 10 s after Ctrl-C")
	}
	_, st, _ := runIn(t, dir, "ledger", "status", "--json")
	var s struct{ Total int }
	json.Unmarshal([]byte(st), &s)
	if s.Total != 0 {
		t.Errorf("an interrupted import left %d identities", s.Total)
	}
}

// $NVSKIT_DB is honoured, but never printed: a postgres:// URL in it holds a password, and
// --help printed it as the flag's default.
func TestLedgerDBFromEnvNotPrinted(t *testing.T) {
	const secret = "S3cretPW"
	t.Setenv("NVSKIT_DB", "postgres://line:"+secret+"@db.invalid/factory")
	dir := t.TempDir()
	for _, args := range [][]string{{"ledger", "status", "--help"}, {"ledger", "init", "--help"}, {"station", "--help"}, {"ledger", "export", "--bogus"}} {
		_, out, errb := runIn(t, dir, args...)
		if strings.Contains(out+errb, secret) {
			t.Errorf("%v prints the password of $NVSKIT_DB:\n%s%s", args, out, errb)
		}
	}
	// A SQLite file named by $NVSKIT_DB is the ledger when --db is not given.
	t.Setenv("NVSKIT_DB", filepath.Join(dir, "env.db"))
	if code, _, errb := runIn(t, dir, "ledger", "init"); code != 0 {
		t.Fatalf("ledger init with $NVSKIT_DB: %d %s", code, errb)
	}
	if _, err := os.Stat(filepath.Join(dir, "env.db")); err != nil {
		t.Errorf("$NVSKIT_DB not used: %v", err)
	}
}

// An interrupted ledger init leaves no (empty) ledger file behind it: "nothing was written"
// holds. An existing ledger is never removed by a failed init.
func TestLedgerInitInterrupted(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(Interrupt{Signal: os.Interrupt})
	var out, errb bytes.Buffer
	code := Run([]string{"ledger", "init"}, Env{Dir: dir, Stdout: &out, Stderr: &errb, Context: ctx})
	if code != 130 || !strings.Contains(errb.String(), "interrupted; nothing was written") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
	if left := listFiles(t, dir); len(left) > 0 {
		t.Errorf("interrupted init left %v", left)
	}
	if code, _, errb := runIn(t, dir, "ledger", "init"); code != 0 {
		t.Fatalf("init: %s", errb)
	}
	code = Run([]string{"ledger", "init"}, Env{Dir: dir, Stdout: &out, Stderr: &errb, Context: ctx})
	if _, err := os.Stat(filepath.Join(dir, "nvskit-ledger.db")); code != 130 || err != nil {
		t.Errorf("interrupted init of an existing ledger: exit %d, %v", code, err)
	}
}
