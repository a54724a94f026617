package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nvskit/nvskit/esploader"
	"github.com/nvskit/nvskit/esploader/loadersim"
)

// doctor --csv is read through the CSV limit: a larger file is refused naming the limit, not
// parsed cut short (its last rows would silently not be checked).
func TestDoctorCSVLimit(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.csv")
	if err := os.WriteFile(big, []byte("key,type,encoding,value\nns,namespace,,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 64<<20+1); err != nil { // sparse: no 64 MiB written
		t.Fatal(err)
	}
	code, _, stderr := runIn(t, dir, "doctor", "--port", "socket://127.0.0.1:1", "--csv", "big.csv")
	if code == 0 || !strings.Contains(stderr, "is larger than 64 MiB") || !strings.Contains(stderr, "--csv") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// Ctrl-C while doctor reads the device ends it with 130 and "interrupted", and prints no
// report: the reads the interrupt cut short are no finding about the device.
func TestDoctorInterrupted(t *testing.T) {
	// Every flash read after the first few answers slowly, so the interrupt comes mid-read.
	s := newFEScenario(t, loadersim.Config{Chip: "esp32c3", Faults: []loadersim.Fault{
		{Kind: loadersim.Delay, Cmd: byte(esploader.CmdReadFlashSlow), Nth: 4, Count: -1, Delay: 20 * time.Millisecond}}}, feTableCSV)
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(400*time.Millisecond, func() { cancel(Interrupt{Signal: os.Interrupt}) })
	var out, errb bytes.Buffer
	start := time.Now()
	code := Run([]string{"doctor", "--port", s.port, "--json"}, Env{Dir: s.dir, Stdout: &out, Stderr: &errb, Context: ctx})
	if code != 130 || !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("exit %d after %v: %s", code, time.Since(start), errb.String())
	}
	if out.Len() > 0 {
		t.Errorf("an interrupted doctor printed a report:\n%s", out.String())
	}
	if strings.Contains(errb.String(), "note:") {
		t.Errorf("the interrupt reported as a note: %s", errb.String())
	}
}
