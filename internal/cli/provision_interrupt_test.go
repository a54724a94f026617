package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
)

// cancelOnWrite is a command's stdout that interrupts the run (SIGINT) at the first line
// holding trigger.
type cancelOnWrite struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	trigger string
	cancel  context.CancelCauseFunc
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if c.cancel != nil && strings.Contains(c.buf.String(), c.trigger) {
		c.cancel(Interrupt{Signal: os.Interrupt})
		c.cancel = nil
	}
	return len(p), nil
}

// Ctrl-C after provision --keys wrote the nvs_keys partition, before the NVS image: the
// message says the device holds the new keys and the NVS data is not written (the firmware
// cannot read the old data with the new keys), not "nothing was written" or only "nvs may be
// partly written".
func TestProvisionInterruptedAfterKeys(t *testing.T) {
	s := newFEScenario(t, feOn, feTableCSV)
	ctx, cancel := context.WithCancelCause(context.Background())
	out := &cancelOnWrite{trigger: "Wrote", cancel: cancel}
	var errb bytes.Buffer
	args := []string{"provision", "input.csv", "--partition", "nvs", "--keys", "keys.bin", "--partition-table", "parts.csv",
		"--flash-key", "flash_key.bin", "--port", s.port}
	code := Run(args, Env{Dir: s.dir, Stdout: out, Stderr: &errb, Context: ctx})
	if code != 130 || !strings.Contains(errb.String(), `interrupted; the nvs_keys partition "nvs_keys" already holds the new keys`) ||
		!strings.Contains(errb.String(), "run the same command again") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out.buf.String(), errb.String())
	}
}
