package cli

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/fsutil"
)

// Interrupt is the cause main cancels a run's context with when a signal stops it; Run then
// exits 128+signal (130 for SIGINT, 143 for SIGTERM) with "interrupted; nothing was written".
type Interrupt struct{ Signal os.Signal }

// Error names the signal.
func (i Interrupt) Error() string { return "interrupted by " + i.Signal.String() }

// ExitCode is the shell's status for a process stopped by the signal: 128 + its number.
func (i Interrupt) ExitCode() int {
	if s, ok := i.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// partlyWritten is an interrupted command's account of what it did write (to a device), which
// replaces "nothing was written" in the message.
type partlyWritten struct {
	what string
	err  error
}

func (p *partlyWritten) Error() string { return p.err.Error() }
func (p *partlyWritten) Unwrap() error { return p.err }

// writesAnnotation marks a command that writes files: the test of the file rules walks the
// command tree for it.
const writesAnnotation = "nvskit/writes-files"

// forceHelp is --force's one meaning on every command that writes files.
const forceHelp = "replace output files that exist already (nvskit never replaces a file it did not make without it)"

// outFlags are --force and --mode of a command that writes files.
type outFlags struct {
	force bool
	mode  string
	env   *Env
}

// register adds --force (unless the command already has it, with the same meaning, from
// ptFlags) and, with defMode non-zero, --mode; it marks c as a command that writes files.
func (f *outFlags) register(c *cobra.Command, env *Env, defMode os.FileMode, force *bool) {
	f.env = env
	if force == nil {
		c.Flags().BoolVar(&f.force, "force", false, forceHelp)
	}
	if defMode != 0 {
		c.Flags().StringVar(&f.mode, "mode", fmt.Sprintf("%04o", defMode), "permissions of the files written, in octal; the umask still applies")
	}
	markWrites(c)
}

func markWrites(c *cobra.Command) {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[writesAnnotation] = "true"
}

// options are the fsutil options of the command's outputs; force is --force when the
// command has it from ptFlags.
func (f *outFlags) options(force ...bool) (fsutil.Options, error) {
	o := fsutil.Options{Force: f.force, Made: f.env.made, Context: f.env.ctx()}
	for _, b := range force {
		o.Force = o.Force || b
	}
	if f.mode != "" {
		m, err := strconv.ParseUint(f.mode, 8, 32)
		if err != nil || m > 0o777 {
			return o, usagef("--mode %q: give permissions in octal, e.g. 0600 or 0644", f.mode)
		}
		if m&0o400 == 0 {
			return o, usagef("--mode %q: the owner could not read the file", f.mode)
		}
		o.Mode = os.FileMode(m)
	}
	return o, nil
}

// checkNew refuses, before any work is done, outputs that exist and may not be replaced.
func checkNew(o fsutil.Options, paths ...string) error {
	for _, p := range paths {
		if err := fsutil.CheckNew(p, o); err != nil {
			return err
		}
	}
	return nil
}

// writeOutput writes one output file with the command's options; errors name path, never a
// temporary file.
func writeOutput(path string, data []byte, o fsutil.Options) error {
	return fsutil.Write(path, data, o)
}

// readInput reads an input file through the limit its format implies (see fsutil.ReadFile);
// what names the kind of input for the message.
func readInput(env *Env, path string, limit int64, what string) ([]byte, error) {
	return fsutil.ReadFile(env.Path(path), limit, what)
}
