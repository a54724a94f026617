package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nvskit/nvskit/internal/fsutil"
)

// Env is what a command may touch of the outside world. Tests run commands in-process with
// their own Env.
type Env struct {
	// Dir is the working directory that relative paths are resolved against ("" = the process's).
	Dir    string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Terminal reports whether Stderr is a terminal, where progress bars may be drawn.
	Terminal bool
	// Context ends when the run must stop (nil = never). To have Run report the
	// interruption as "interrupted; nothing was written" with exit status 130 or 143, cancel
	// it with an Interrupt as the cause (context.WithCancelCause).
	Context context.Context

	made *fsutil.Made // the files this run wrote
	// note, when set, replaces "nothing was written" if the run is interrupted: what an
	// interruption at this moment leaves behind (a device partly written, a commit begun).
	note *atomic.Pointer[string]
}

// writing records what an interruption from now on leaves behind, for the message that
// replaces "nothing was written"; the returned function clears it when that step is done.
func (e *Env) writing(what string) (done func()) {
	if e.note == nil {
		return func() {}
	}
	e.note.Store(&what)
	return func() { e.note.Store(nil) }
}

// newNote returns an empty holder for Env.note.
func newNote() *atomic.Pointer[string] { return new(atomic.Pointer[string]) }

// interruptMessage is what nvskit says when the run was interrupted.
func (e *Env) interruptMessage() string {
	if e.note != nil {
		if what := e.note.Load(); what != nil {
			return "interrupted; " + *what
		}
	}
	return "interrupted; nothing was written"
}

// ctx returns the run's context.
func (e *Env) ctx() context.Context {
	if e.Context == nil {
		return context.Background()
	}
	return e.Context
}

// Path resolves p against the Env's working directory.
func (e *Env) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || e.Dir == "" {
		return p
	}
	return filepath.Join(e.Dir, p)
}

// ExitError carries a specific exit code; its message, if any, is printed to stderr.
type ExitError struct {
	Code int
	Err  error
}

// Error returns the message of the wrapped error.
func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

// Unwrap returns the wrapped error.
func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks an error in the command line itself (exit code 2).
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// subcommands are nvskit's commands, in the order "nvskit --help" lists them. A run builds only
// the command its arguments name (newRoot), so a new command adds one line here, and its
// constructor costs nothing to the other commands. The name must be the command's Use name (a
// test checks it).
var subcommands = []struct {
	name string
	new  func(*Env) *cobra.Command
}{
	{"generate", newGenerateCmd},
	{"encrypt", newEncryptCmd},
	{"decrypt", newDecryptCmd},
	{"generate-key", newGenerateKeyCmd},
	{"keys", newKeysCmd},
	{"partitions", newPartitionsCmd},
	{"mfg", newMfgCmd},
	{"ledger", newLedgerCmd},
	{"station", newStationCmd},
	{"flash", newFlashCmd},
	{"read", newReadCmd},
	{"erase", newEraseCmd},
	{"device", newDeviceCmd},
	{"ports", newPortsCmd},
	{"simulate", newSimulateCmd},
	{"provision", newProvisionCmd},
	{"doctor", newDoctorCmd},
	{"inspect", newInspectCmd},
	{"check", newCheckCmd},
	{"get", newGetCmd},
	{"export", newExportCmd},
	{"set", newSetCmd},
	{"rm", newRmCmd},
	{"encrypt-flash-data", newEncryptFlashDataCmd},
	{"decrypt-flash-data", newDecryptFlashDataCmd},
}

// NewRoot builds the whole command tree.
func NewRoot(env *Env) *cobra.Command { return newRoot(env, "") }

// commandNamed returns the subcommand args run, "" when they name none (help, completion, an
// unknown or misspelt command, no command at all: those need the whole tree), and noCommands
// for a lone --version (which needs none).
func commandNamed(args []string) string {
	if len(args) == 1 && args[0] == "--version" {
		return noCommands
	}
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			continue // nvskit's own flags (--help, --version) take no value
		}
		for _, sc := range subcommands {
			if sc.name == a {
				return a
			}
		}
		return ""
	}
	return ""
}

// noCommands, as newRoot's only, builds the root command alone.
const noCommands = "-"

// newRoot builds the root command with the subcommand only, or with all of them when only is "".
func newRoot(env *Env, only string) *cobra.Command {
	root := &cobra.Command{
		Use:   "nvskit",
		Short: "Make, inspect, encrypt and flash ESP32 NVS partitions",
		Long: `nvskit takes an ESP32 product's secrets and settings from a CSV to a verified,
optionally encrypted NVS partition on the device, and back. It is a drop-in for
ESP-IDF's nvs_partition_gen.py (same CSV, same arguments, byte-identical images)
and needs no Python and no ESP-IDF install.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	if only == "" || only == noCommands {
		// cobra prints "nvskit version " + Version + "\n": the rest of the lines go in Version.
		// (No SetVersionTemplate: a text/template reachable from main disables the linker's
		// dead-code elimination of methods and adds megabytes to the binary; see
		// docs/performance.md.) A run of one subcommand never reaches the root's --version
		// (the subcommand parses the flags), so it does not read the build information.
		root.Version = strings.TrimSuffix(strings.TrimPrefix(currentVersion().String(), "nvskit version "), "\n")
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	for _, sc := range subcommands {
		if only == "" || sc.name == only {
			root.AddCommand(sc.new(env))
		}
	}
	// "completion" (and its four shells' commands) is built only with the whole tree.
	root.CompletionOptions.DisableDefaultCmd = only != ""
	for _, c := range root.Commands() {
		switch c.Name() {
		case "set", "rm", "decrypt":
			ensureForceFlag(c) // they refuse what is not an NVS image unless --force
		}
	}
	markUsageErrors(root)
	return root
}

// Run runs nvskit with args (without the program name) and returns the exit code.
func Run(args []string, env Env) int {
	if env.Stdin == nil {
		env.Stdin = os.Stdin
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.note == nil {
		env.note = newNote()
	}
	if env.made == nil {
		env.made = new(fsutil.Made)
	}
	only := commandNamed(args)
	if only == noCommands {
		// A lone --version prints what cobra would print for it ("nvskit version " + the
		// root's Version + "\n", TestVersionFastPath), without building and running cobra.
		fmt.Fprint(env.Stdout, currentVersion().String())
		return 0
	}
	root := newRoot(&env, only)
	root.SetArgs(args)
	err := root.ExecuteContext(env.ctx())
	if err == nil {
		return 0
	}
	// No partial output: a failed run removes the files it made.
	env.made.Undo()
	var intr Interrupt
	if errors.As(context.Cause(env.ctx()), &intr) {
		msg := env.interruptMessage()
		var pw *partlyWritten
		if errors.As(err, &pw) {
			msg = "interrupted; " + pw.what
		}
		fmt.Fprintln(env.Stderr, "nvskit:", msg)
		return intr.ExitCode()
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(env.Stderr, "nvskit:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(env.Stderr, "nvskit:", err)
	var ue usageError
	if errors.As(err, &ue) || isUnknownCommand(err) {
		return 2
	}
	return 1
}

// markUsageErrors makes the argument-count errors of c and its subcommands usage errors
// (exit 2), like flag errors, all in the one wording of argCountError.
func markUsageErrors(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				var ae argsError
				if errors.As(err, &ae) {
					return err // the command's own check, already in the one wording
				}
				return argCountError(cmd, len(args), "")
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markUsageErrors(sub)
	}
}

// isUnknownCommand reports cobra's error for a command name it does not know, the one usage
// error that comes from neither flags nor an Args check.
func isUnknownCommand(err error) bool { return strings.HasPrefix(err.Error(), "unknown command") }

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
