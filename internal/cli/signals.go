package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nvskit/nvskit/internal/fsutil"
)

// stopGrace is how long a command may take to stop after Ctrl-C or SIGTERM before nvskit
// exits anyway, removing what the run wrote.
const stopGrace = 900 * time.Millisecond

// watchAfter is how long a run goes without a goroutine waiting for signals (see stopContext).
const watchAfter = 5 * time.Millisecond

// Main runs nvskit as a program: with the process's standard streams and arguments, and
// stopped by SIGINT or SIGTERM. A signal cancels the run's context; the command stops, removes
// its temporary and new files, and nvskit exits 130 (SIGINT) or 143 (SIGTERM) with
// "interrupted; nothing was written" (or what the interrupted step leaves behind). A command that does not stop within a second, or a
// second signal, ends the process at once after the same clean-up.
//
// The command runs on the calling goroutine, and Main returns only to exit: the signals stay
// routed to it.
func Main(args []string) int {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	env := Env{
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Terminal: IsTerminal(os.Stderr),
		made:     new(fsutil.Made),
		note:     newNote(),
	}
	made, note := env.made, env.note
	ctx := newStopContext(sigs, watchAfter, func(sig os.Signal) {
		fsutil.RemoveTemps()
		made.Undo()
		fmt.Fprintln(os.Stderr, "nvskit:", (&Env{note: note}).interruptMessage())
		os.Exit(Interrupt{Signal: sig}.ExitCode())
	})
	env.Context = ctx
	code := Run(args, env)
	ctx.finish()
	return code
}

// stopContext is the context of a run that signals stop: it is canceled, with an Interrupt
// as the cause, when a signal arrives on sigs. A goroutine waits for the signals, and ends the
// process with forceExit when the command has not returned stopGrace after the first or at a
// second. It starts only when needed, since every goroutine a run starts costs start-up time
// (a thread, see docs/performance.md): when the command first asks for Done, when Err finds a
// signal waiting, or watchAfter after the start. Until then a signal waits in sigs, and a
// short command (generate, encrypt...) checks Err between its steps.
type stopContext struct {
	context.Context
	cancel    context.CancelCauseFunc
	sigs      <-chan os.Signal
	forceExit func(os.Signal)

	start    sync.Once
	watching atomic.Bool
	timer    *time.Timer
	exit     sync.Mutex // held by whoever ends the process: forceExit or the returning run
}

// newStopContext returns a stopContext that starts its watcher after at the latest.
func newStopContext(sigs <-chan os.Signal, after time.Duration, forceExit func(os.Signal)) *stopContext {
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &stopContext{Context: ctx, cancel: cancel, sigs: sigs, forceExit: forceExit}
	c.timer = time.AfterFunc(after, c.watch)
	return c
}

// Done returns the channel that is closed when a signal arrives, and starts the goroutine that
// waits for one.
func (c *stopContext) Done() <-chan struct{} {
	c.watch()
	return c.Context.Done()
}

// Err returns context.Canceled once a signal has arrived.
func (c *stopContext) Err() error {
	if !c.watching.Load() {
		select {
		case sig := <-c.sigs:
			c.cancel(Interrupt{Signal: sig})
			c.watch()
		default:
		}
	}
	return c.Context.Err()
}

// watch starts, once, the goroutine that waits for signals.
func (c *stopContext) watch() {
	c.start.Do(func() {
		c.watching.Store(true)
		go c.wait()
	})
}

func (c *stopContext) wait() {
	select {
	case sig := <-c.sigs:
		c.cancel(Interrupt{Signal: sig})
	case <-c.Context.Done(): // Err took the first signal
	}
	select {
	case <-c.sigs:
	case <-time.After(stopGrace):
	}
	var intr Interrupt
	if err, ok := context.Cause(c.Context).(Interrupt); ok {
		intr = err
	}
	c.exit.Lock() // never released: the process ends here or in the returning run
	c.forceExit(intr.Signal)
}

// finish marks the run as returned: a forced exit no longer runs, or has ended the process.
func (c *stopContext) finish() {
	c.timer.Stop()
	c.exit.Lock()
}
