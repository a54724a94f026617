package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// newTestStopContext returns a stopContext fed by the returned channel, whose forced exits are
// reported on the other, and whose watcher starts after at the latest.
func newTestStopContext(after time.Duration) (*stopContext, chan os.Signal, chan os.Signal) {
	sigs := make(chan os.Signal, 2)
	exits := make(chan os.Signal, 1)
	return newStopContext(sigs, after, func(s os.Signal) { exits <- s }), sigs, exits
}

// A short run that checks Err starts no goroutine, and still sees a signal at its next check.
func TestStopContextErrSeesWaitingSignal(t *testing.T) {
	c, sigs, exits := newTestStopContext(time.Hour)
	if err := c.Err(); err != nil {
		t.Fatalf("Err before any signal: %v", err)
	}
	if c.watching.Load() {
		t.Fatal("Err started the watcher without a signal")
	}
	sigs <- syscall.SIGTERM
	if err := c.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err after SIGTERM: %v", err)
	}
	var intr Interrupt
	if !errors.As(context.Cause(c), &intr) || intr.ExitCode() != 143 {
		t.Fatalf("cause %v, want an Interrupt by SIGTERM", context.Cause(c))
	}
	// The command does not return: the watcher ends the process at a second signal.
	sigs <- syscall.SIGTERM
	select {
	case s := <-exits:
		if s != syscall.SIGTERM {
			t.Errorf("forced exit for %v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no forced exit after a second signal")
	}
}

// A command that waits on Done is stopped by a signal, and ended stopGrace later if it does
// not return.
func TestStopContextDoneAndGrace(t *testing.T) {
	c, sigs, exits := newTestStopContext(time.Hour)
	done := c.Done()
	if !c.watching.Load() {
		t.Fatal("Done did not start the watcher")
	}
	start := time.Now()
	sigs <- os.Interrupt
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after SIGINT")
	}
	select {
	case s := <-exits:
		if d := time.Since(start); d < stopGrace {
			t.Errorf("forced exit after %v, before the grace of %v", d, stopGrace)
		}
		if (Interrupt{Signal: s}).ExitCode() != 130 {
			t.Errorf("forced exit for %v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no forced exit after the grace")
	}
}

// A command that checks neither Err nor Done still gets the watcher, a while after the start.
func TestStopContextWatchesAfterAWhile(t *testing.T) {
	c, sigs, exits := newTestStopContext(time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for !c.watching.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !c.watching.Load() {
		t.Fatal("no watcher 5 s after the start")
	}
	sigs <- os.Interrupt
	sigs <- os.Interrupt
	select {
	case <-exits:
	case <-time.After(5 * time.Second):
		t.Fatal("no forced exit after two signals")
	}
}

// Once the run has returned, a late forced exit does not run.
func TestStopContextFinish(t *testing.T) {
	c, sigs, exits := newTestStopContext(time.Hour)
	c.Done()
	c.finish()
	sigs <- os.Interrupt
	sigs <- os.Interrupt
	select {
	case s := <-exits:
		t.Fatalf("forced exit (%v) after the run returned", s)
	case <-time.After(200 * time.Millisecond):
	}
}

// generate, the command build scripts run, checks its context with Err only: it starts no
// goroutine to wait for signals (each goroutine a run starts costs start-up time).
func TestGenerateStartsNoWatcher(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nvs.csv"), []byte("key,type,encoding,value\nwifi,namespace,,\nssid,data,string,Net\n"), 0o644)
	c, _, _ := newTestStopContext(time.Hour)
	var out, errb bytes.Buffer
	if code := Run([]string{"generate", "nvs.csv", "nvs.bin", "0x6000"}, Env{Dir: dir, Stdout: &out, Stderr: &errb, Context: c}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if c.watching.Load() {
		t.Error("generate started the signal watcher (it asked for ctx.Done()): check ctx.Err() between steps instead")
	}
}
