package mfg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/nvscsv"
)

// commitValues is a VALUES.csv of n devices SN-1... with a --keygen layout.
func commitValues(n int) string {
	var b strings.Builder
	b.WriteString("serial,n\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "SN-%d,%d\n", i, i)
	}
	return b.String()
}

// runBatch runs n --keygen devices into dir and commits them.
func runBatch(t testing.TB, dir string, n int, force, resume bool) (*Output, error) {
	t.Helper()
	cfg, err := nvscsv.ParseMfgConfig("config.csv", strings.NewReader("ns,namespace,\nserial,data,string\nn,data,u32\n"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{Size: 0x3000, FileID: "serial", Jobs: 2, Encryption: &Encryption{KeyGen: true}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := OpenOutput(OutputOptions{Dir: dir, Prefix: "n", Force: force, Resume: resume})
	if err != nil {
		return nil, err
	}
	defer o.Abort()
	if err := g.Run(context.Background(), "values.csv", strings.NewReader(commitValues(n)), o); err != nil {
		return o, err
	}
	return o, o.Commit()
}

// checkPairs checks that every image in dir/bin has its keys file, and that the keys decrypt
// it; it returns the image names.
func checkPairs(t *testing.T, dir string) []string {
	t.Helper()
	names, _ := readNames(filepath.Join(dir, "bin"))
	slices.Sort(names)
	for _, n := range names {
		img, err := os.ReadFile(filepath.Join(dir, "bin", n))
		if err != nil {
			t.Fatal(err)
		}
		kp, err := os.ReadFile(filepath.Join(dir, "keys", "keys-"+n))
		if err != nil {
			t.Errorf("image %s exists without its keys: %v", n, err)
			continue
		}
		keys, err := nvs.ParseKeysPartition(kp)
		if err != nil {
			t.Errorf("keys of %s: %v", n, err)
			continue
		}
		if _, err := nvs.Decrypt(img, keys); err != nil {
			t.Errorf("image %s is not encrypted with the keys next to it: %v", n, err)
		}
	}
	return names
}

// stagingDirs returns the staging directories left in dir.
func stagingDirs(dir string) []string {
	names, _ := readNames(dir)
	var s []string
	for _, n := range names {
		if strings.HasPrefix(n, stagingPrefix) {
			s = append(s, n)
		}
	}
	return s
}

// failAt makes the commit fail at step (once) and returns the undo.
func failAt(step string) func() {
	failed := false
	commitStep = func(s string) error {
		if s == step && !failed {
			failed = true
			return fmt.Errorf("injected failure at %s", s)
		}
		return nil
	}
	return func() { commitStep = func(string) error { return nil } }
}

// TestCommitInterrupted interrupts the commit of a --keygen batch at every step, into a new
// output directory and over an earlier batch it replaces (--force), interrupts the recovery
// once more at the next step, and checks that no image is ever without its keys and that the
// next run finishes the commit by itself.
func TestCommitInterrupted(t *testing.T) {
	const n = 6
	for _, over := range []bool{false, true} {
		for i, step := range commitSteps {
			name := step
			if over {
				name = "over an earlier batch/" + step
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				var before []string
				if over {
					if _, err := runBatch(t, dir, n, false, false); err != nil {
						t.Fatal(err)
					}
					before = checkPairs(t, dir)
				}
				undo := failAt(step)
				_, err := runBatch(t, dir, n, over, false)
				undo()
				if err == nil {
					t.Fatal("the injected failure did not stop the commit")
				}
				journaled := i >= slices.Index(commitSteps, "journal")
				if journaled != errors.Is(err, ErrCommitInterrupted) {
					t.Errorf("error %v: interrupted is %v, want %v", err, errors.Is(err, ErrCommitInterrupted), journaled)
				}
				mid := checkPairs(t, dir)
				if !journaled && !slices.Equal(mid, before) {
					t.Errorf("a failure before the commit changed bin/: %v, want %v", mid, before)
				}
				// The next run finishes (or, before the journal, forgets) the batch; once
				// more interrupted at the next step, then for good.
				if i+1 < len(commitSteps) && journaled {
					undo := failAt(commitSteps[i+1])
					o, err := OpenOutput(OutputOptions{Dir: dir, Prefix: "n", Resume: true})
					undo()
					if err == nil {
						o.Abort()
					}
					checkPairs(t, dir)
				}
				o, err := OpenOutput(OutputOptions{Dir: dir, Prefix: "n", Resume: true})
				if err != nil {
					t.Fatal(err)
				}
				o.Abort()
				if journaled && step != "cleanup" && len(o.Recovered.Finished) == 0 && i+1 >= len(commitSteps) {
					t.Errorf("recovery finished nothing: %+v", o.Recovered)
				}
				if s := stagingDirs(dir); len(s) != 0 {
					t.Errorf("staging left after recovery: %v", s)
				}
				after := checkPairs(t, dir)
				if journaled || over {
					if len(after) != n {
						t.Errorf("after recovery bin/ has %v, want %d images", after, n)
					}
				} else if len(after) != 0 {
					t.Errorf("a batch that never committed left %v", after)
				}
				if journaled {
					// The manifest is the new batch's, and --resume now skips every device.
					o, err := runBatch(t, dir, n, false, true)
					if err != nil {
						t.Fatalf("--resume after the recovery: %v", err)
					}
					if c := o.Counts(); c.Skipped != n {
						t.Errorf("--resume after the recovery: %+v, want %d skipped", c, n)
					}
				}
			})
		}
	}
}

// TestCommitKilled kills a real process with SIGKILL at every step of its commit (it waits
// there until killed), and checks the same as TestCommitInterrupted: no image without its
// keys, and the next run finishes the commit.
func TestCommitKilled(t *testing.T) {
	if os.Getenv("NVSKIT_MFG_KILL_DIR") != "" {
		return // the helper process
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	const n = 6
	for _, step := range append([]string{"run"}, commitSteps...) {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCommitKilledHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), "NVSKIT_MFG_KILL_DIR="+dir, "NVSKIT_MFG_KILL_STEP="+step)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			waiting := false
			for sc.Scan() {
				if sc.Text() == "waiting at "+step {
					waiting = true
					break
				}
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			if !waiting {
				t.Fatal("the helper never reached the step")
			}
			checkPairs(t, dir)
			o, err := OpenOutput(OutputOptions{Dir: dir, Prefix: "n", Resume: true})
			if err != nil {
				t.Fatal(err)
			}
			o.Abort()
			if s := stagingDirs(dir); len(s) != 0 {
				t.Errorf("staging left after recovery: %v", s)
			}
			after := checkPairs(t, dir)
			want := n
			if step == "run" || step == "synced" {
				want = 0 // killed before the journal: the batch never happened
				if len(o.Recovered.Removed) != 1 {
					t.Errorf("recovered %+v, want one staging directory removed", o.Recovered)
				}
			}
			if len(after) != want {
				t.Errorf("after recovery bin/ has %v, want %d images", after, want)
			}
		})
	}
}

// TestCommitKilledHelper is the process that TestCommitKilled kills.
func TestCommitKilledHelper(t *testing.T) {
	dir, step := os.Getenv("NVSKIT_MFG_KILL_DIR"), os.Getenv("NVSKIT_MFG_KILL_STEP")
	if dir == "" {
		t.Skip("run by TestCommitKilled")
	}
	wait := func() {
		fmt.Println("waiting at " + step)
		select {}
	}
	commitStep = func(s string) error {
		if s == step {
			wait()
		}
		return nil
	}
	cfg, _ := nvscsv.ParseMfgConfig("config.csv", strings.NewReader("ns,namespace,\nserial,data,string\nn,data,u32\n"))
	g, _ := New(cfg, Options{Size: 0x3000, FileID: "serial", Jobs: 2, Encryption: &Encryption{KeyGen: true}})
	o, err := OpenOutput(OutputOptions{Dir: dir, Prefix: "n"})
	if err != nil {
		t.Fatal(err)
	}
	sink := &killAfterStore{Output: o, wait: func() {
		if step == "run" {
			wait()
		}
	}}
	if err := g.Run(context.Background(), "values.csv", strings.NewReader(commitValues(6)), sink); err != nil {
		t.Fatal(err)
	}
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
}

// killAfterStore waits to be killed after the last device was recorded, before the commit.
type killAfterStore struct {
	*Output
	wait func()
	n    int
}

func (k *killAfterStore) Record(d *Device) error {
	if err := k.Output.Record(d); err != nil {
		return err
	}
	if k.n++; k.n == 6 {
		k.wait()
	}
	return nil
}

// TestCommitInterruptedExport interrupts the commit of a batch with issued certificates and
// --export-keys at every step, and checks that the next run finishes it: every certificate
// and exported key in place, nothing else in the export directory, no staging left.
func TestCommitInterruptedExport(t *testing.T) {
	caCert, caKey, _ := testCA(t)
	is, err := NewIssuer(caCert, caKey, IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := nvscsv.ParseMfgConfig("config.csv", strings.NewReader("c,namespace,\nserial,data,string\ncert,x509_cert,string\nkey,x509_key,string\n"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{Size: 0x4000, FileID: "serial", Issuer: is, Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i, step := range commitSteps {
		t.Run(step, func(t *testing.T) {
			dir, export := t.TempDir(), filepath.Join(t.TempDir(), "export")
			undo := failAt(step)
			o, err := OpenOutput(OutputOptions{Dir: dir, Prefix: "d", ExportKeys: export})
			if err != nil {
				t.Fatal(err)
			}
			err = g.Run(context.Background(), "values.csv", strings.NewReader("serial\nA1\nA2\n"), o)
			if err == nil {
				err = o.Commit()
			}
			o.Abort()
			undo()
			if err == nil {
				t.Fatal("the injected failure did not stop the commit")
			}
			o, err = OpenOutput(OutputOptions{Dir: dir, Prefix: "d", ExportKeys: export})
			if err != nil {
				t.Fatal(err)
			}
			o.Abort()
			names, _ := readNames(export)
			slices.Sort(names)
			certs, _ := readNames(filepath.Join(dir, "certs"))
			slices.Sort(certs)
			if i >= slices.Index(commitSteps, "journal") {
				if strings.Join(names, " ") != "d-A1.cert.pem d-A1.key.pem d-A2.cert.pem d-A2.key.pem" {
					t.Errorf("export holds %v", names)
				}
				if strings.Join(certs, " ") != "d-A1.cert.pem d-A2.cert.pem" {
					t.Errorf("certs holds %v", certs)
				}
			} else if len(names) != 0 || len(certs) != 0 {
				t.Errorf("a batch that never committed left %v %v", names, certs)
			}
			if s := stagingDirs(dir); len(s) != 0 {
				t.Errorf("staging left: %v", s)
			}
		})
	}
}

// TestCommitSync commits a batch with Sync (a file system sync before the journal, which is
// then synced too) and checks the result like any other.
func TestCommitSync(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := nvscsv.ParseMfgConfig("config.csv", strings.NewReader("ns,namespace,\nserial,data,string\nn,data,u32\n"))
	g, _ := New(cfg, Options{Size: 0x3000, FileID: "serial", Encryption: &Encryption{KeyGen: true}})
	o, err := OpenOutput(OutputOptions{Dir: dir, Prefix: "n", Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Abort()
	if err := g.Run(context.Background(), "values.csv", strings.NewReader(commitValues(4)), o); err != nil {
		t.Fatal(err)
	}
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := checkPairs(t, dir); len(n) != 4 {
		t.Errorf("images %v", n)
	}
	if s := stagingDirs(dir); len(s) != 0 {
		t.Errorf("staging left: %v", s)
	}
}
