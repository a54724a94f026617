//go:build unix

package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runMfgCtx runs nvskit in-process in dir with ctx as the command's context, and returns the
// command's error and stderr.
func runMfgCtx(ctx context.Context, dir string, args ...string) (error, string) {
	var out, errb bytes.Buffer
	env := Env{Dir: dir, Stdout: &out, Stderr: &errb}
	root := NewRoot(&env)
	root.SetArgs(args)
	return root.ExecuteContext(ctx), errb.String()
}

// mkfifo makes a FIFO at path.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
}

// TestMfgCancelReachesReads cancels mfg runs that wait on VALUES.csv as a FIFO: with no writer,
// with a writer that sent some rows and stalls, and one that stalls in the header. Each run must
// end with the context's error soon after the cancel and leave nothing behind.
func TestMfgCancelReachesReads(t *testing.T) {
	base := []string{"mfg", "generate", "config.csv", "values.csv", "n", "0x3000", "--outdir", "out", "--fileid", "serial"}
	for _, tc := range []struct {
		name   string
		fifo   string
		args   []string
		stalls string // what a writer sends before stalling; "" = no writer
	}{
		{"values fifo without writer", "values.csv", nil, ""},
		{"values fifo that stalls", "values.csv", nil, "id,serial,hw_rev,batch,cal,cert\n" + strings.Join(goodRows, "\n") + "\n"},
		{"values fifo that stalls in the header", "values.csv", nil, "id,ser"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFleet(t, goodRows...)
			fifo := filepath.Join(dir, tc.fifo)
			os.Remove(fifo)
			mkfifo(t, fifo)
			before := listFiles(t, dir)
			if tc.stalls != "" {
				w := make(chan *os.File, 1)
				go func() {
					f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
					if err == nil {
						f.WriteString(tc.stalls)
					}
					w <- f
				}()
				defer func() {
					if f := <-w; f != nil {
						f.Close()
					}
				}()
			}
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				err, _ := runMfgCtx(ctx, dir, append(base, tc.args...)...)
				errc <- err
			}()
			time.Sleep(200 * time.Millisecond)
			cancel()
			select {
			case err := <-errc:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("error %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("mfg did not stop after the cancel")
			}
			if after := listFiles(t, dir); strings.Join(after, " ") != strings.Join(before, " ") {
				t.Errorf("files left behind: %v", diffList(after, before))
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
				t.Error("out/ left behind")
			}
		})
	}
}

// TestMfgUnboundedInputs gives mfg inputs that are not what a file row or VALUES.csv can be:
// /dev/zero, a FIFO and a 200 MB file. Each is refused at once, naming the file and the
// limit or the kind of file.
func TestMfgUnboundedInputs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"file row names /dev/zero", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "certs", "b.pem"))
			os.Symlink("/dev/zero", filepath.Join(dir, "certs", "b.pem"))
		}, []string{"values.csv:3:", "column 6 (cert)", "certs/b.pem", "a device, not a regular file"}},
		{"file row names a FIFO", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "certs", "b.pem"))
			mkfifo(t, filepath.Join(dir, "certs", "b.pem"))
		}, []string{"values.csv:3:", "certs/b.pem", "a named pipe (FIFO), not a regular file"}},
		{"file row names a 200 MB file", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, "certs", "b.pem"), 200<<20); err != nil {
				t.Fatal(err)
			}
		}, []string{"values.csv:3:", "certs/b.pem", "is 209715200 bytes, over the limit of 508000 bytes"}},
		{"values is /dev/zero", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "values.csv"))
			os.Symlink("/dev/zero", filepath.Join(dir, "values.csv"))
		}, []string{"values.csv is a device, not a file"}},
		{"values never ends a line", func(t *testing.T, dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, "values.csv"), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("4,SN-4,3,,1,\"certs/")
			f.Write(bytes.Repeat([]byte("a"), 5<<20))
			f.Close()
		}, []string{"values.csv:5: the row is over the limit of", "closing quote"}},
		{"config is /dev/zero", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "config.csv"))
			os.Symlink("/dev/zero", filepath.Join(dir, "config.csv"))
		}, []string{"config.csv is a device, not a regular file"}},
		{"config is a FIFO", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "config.csv"))
			mkfifo(t, filepath.Join(dir, "config.csv"))
		}, []string{"config.csv is a named pipe (FIFO), not a regular file"}},
		{"config is 70 MB", func(t *testing.T, dir string) {
			os.Truncate(filepath.Join(dir, "config.csv"), 70<<20)
		}, []string{"config.csv is larger than 64 MiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFleet(t, goodRows...)
			tc.setup(t, dir)
			errc := make(chan string, 1)
			go func() {
				code, _, stderr := runIn(t, dir, "mfg", "generate", "config.csv", "values.csv", "n", "0x3000",
					"--outdir", "out", "--fileid", "serial")
				if code == 0 {
					stderr = "exit 0"
				}
				errc <- stderr
			}()
			var stderr string
			select {
			case stderr = <-errc:
			case <-time.After(20 * time.Second):
				t.Fatal("mfg hangs")
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("error %q does not contain %q", stderr, w)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
				t.Error("out/ left behind")
			}
		})
	}
}

// TestMfgCancelledContext runs mfg with a context that is already cancelled: it stops with
// the context's error and writes nothing.
func TestMfgCancelledContext(t *testing.T) {
	dir := writeFleet(t, goodRows...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err, _ := runMfgCtx(ctx, dir, "mfg", "generate", "config.csv", "values.csv", "n", "0x3000", "--outdir", "out", "--keygen")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Errorf("out/ left behind: %v", listFiles(t, filepath.Join(dir, "out")))
	}
}

// TestMfgSignalWhileReadingFIFO sends SIGINT and SIGTERM to a real process running mfg whose
// VALUES.csv is a FIFO that never sends a row: the process must end promptly, non-zero, and
// leave nothing behind.
func TestMfgSignalWhileReadingFIFO(t *testing.T) {
	if os.Getenv("NVSKIT_MFG_SIGNAL_DIR") != "" {
		return // the helper process
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := writeFleet(t, goodRows...)
			fifo := filepath.Join(dir, "values.csv")
			os.Remove(fifo)
			mkfifo(t, fifo)
			// A writer that sends the header and then nothing, and stays open.
			w := make(chan *os.File, 1)
			go func() {
				f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
				if err == nil {
					f.WriteString("id,serial,hw_rev,batch,cal,cert\n" + goodRows[0] + "\n")
				}
				w <- f
			}()
			defer func() {
				if f := <-w; f != nil {
					f.Close()
				}
			}()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMfgSignalHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), "NVSKIT_MFG_SIGNAL_DIR="+dir)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait until the run has its staging directory, so that the signal comes while
			// it reads.
			for i := 0; ; i++ {
				if m, _ := filepath.Glob(filepath.Join(dir, "out", ".nvskit-mfg-staging-*")); len(m) > 0 {
					break
				}
				if i == 1000 {
					cmd.Process.Kill()
					t.Fatal("the run never started")
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
			cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
				if code := cmd.ProcessState.ExitCode(); code != 128+int(sig) || !strings.Contains(stderr.String(), "interrupted; nothing was written") {
					t.Errorf("exit %d after %v, want %d: %s", code, sig, 128+int(sig), stderr.String())
				}
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("still running 10 s after %v", sig)
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
				t.Errorf("out/ left behind: %v", listFiles(t, filepath.Join(dir, "out")))
			}
		})
	}
}

// TestMfgSignalHelper is the process TestMfgSignalWhileReadingFIFO signals.
func TestMfgSignalHelper(t *testing.T) {
	dir := os.Getenv("NVSKIT_MFG_SIGNAL_DIR")
	if dir == "" {
		t.Skip("run by TestMfgSignalWhileReadingFIFO")
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	os.Exit(Main([]string{"mfg", "generate", "config.csv", "values.csv", "n", "0x3000", "--outdir", "out", "--fileid", "serial"}))
}
