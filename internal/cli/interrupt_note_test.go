package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nvskit/nvskit/esploader/loadersim"
)

// An interruption while the device is being written must not be reported as "nothing was
// written": the partition may hold part of the new image.
func TestInterruptDuringFlashSaysPartlyWritten(t *testing.T) {
	p, sim := simPort(t, loadersim.Config{Chip: "esp32", Baud: 19200}, false)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nvs.bin"), goldenImage(t), 0o600)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		// Interrupt once image data is on the wire (past the sync and the table read).
		deadline := time.Now().Add(20 * time.Second)
		for sim.Stats().BytesIn < 0x1000 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel(Interrupt{Signal: syscall.SIGINT})
	}()
	var out, errb bytes.Buffer
	code := Run([]string{"flash", "nvs.bin", "--port", p, "--partition", "nvs"}, Env{Dir: dir, Stdout: &out, Stderr: &errb, Context: ctx})
	if code != 130 {
		t.Fatalf("exit %d, want 130; %s", code, errb.String())
	}
	if msg := errb.String(); strings.Contains(msg, "nothing was written") || !strings.Contains(msg, "may be partly written") {
		t.Fatalf("stderr %q: want the partition named as partly written", msg)
	}
}

func TestInterruptMessage(t *testing.T) {
	env := &Env{}
	if got := env.interruptMessage(); got != "interrupted; nothing was written" {
		t.Fatalf("no note: %q", got)
	}
	env = &Env{}
	env.note = newNote()
	done := env.writing("the commit had begun")
	if got := env.interruptMessage(); got != "interrupted; the commit had begun" {
		t.Fatalf("during: %q", got)
	}
	done()
	if got := env.interruptMessage(); got != "interrupted; nothing was written" {
		t.Fatalf("after: %q", got)
	}
}
