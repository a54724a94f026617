package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nvskit/nvskit/internal/fsutil"
)

// stopGrace is how long a command may take to stop after Ctrl-C or SIGTERM before nvskit
// exits anyway, removing what the run wrote.
const stopGrace = 900 * time.Millisecond

// Main runs nvskit as a program: with the process's standard streams and arguments, and
// stopped by SIGINT or SIGTERM. A signal cancels the run's context; the command stops, removes
// its temporary and new files, and nvskit exits 130 (SIGINT) or 143 (SIGTERM) with
// "interrupted; nothing was written". A command that does not stop within a second, or a
// second signal, ends the process at once after the same clean-up.
func Main(args []string) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	env := Env{
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Terminal: IsTerminal(os.Stderr),
		Context:  ctx,
		made:     new(fsutil.Made),
		note:     newNote(),
	}
	done := make(chan int, 1)
	go func() { done <- Run(args, env) }()
	var intr Interrupt
	select {
	case code := <-done:
		return code
	case sig := <-sigs:
		intr = Interrupt{Signal: sig}
		cancel(intr)
	}
	select {
	case code := <-done:
		return code
	case <-sigs:
	case <-time.After(stopGrace):
	}
	fsutil.RemoveTemps()
	env.made.Undo()
	fmt.Fprintln(os.Stderr, "nvskit:", env.interruptMessage())
	return intr.ExitCode()
}
