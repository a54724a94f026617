package mfg

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The commit of a run moves the staged files into place in an order that keeps every state
// in between coherent, and is journaled so that a run killed in the middle is finished by the
// next one:
//
//  1. With Sync, the staged files are flushed to disk (one sync of the file system, not one
//     per file). A journal, <staging>/commit, is written (and with Sync, synced). From then
//     on the batch is committed: whatever stops the process, the next run into the same
//     directory finishes the move.
//  2. Images that the batch replaces (--force) are moved aside into the staging directory, so
//     that no old image is ever next to a new device's keys.
//  3. Exported keys, certificates and keys files are moved into place.
//  4. The images are moved into place, so an image never exists without its keys.
//  5. The manifest is moved into place.
//  6. The staging directories are removed.
//
// Every directory that gained or lost an entry is synced once, before the staging directory
// is removed: without Sync, that is the batch's only sync (one journal commit of the file
// system), never one per file. A directory that does not exist yet (bin/ on a first run) is moved with one
// rename; an existing one gets one rename per file. A staging directory without a journal
// belongs to a run that never got to commit: the next run removes it. An exclusive lock on
// the output directory keeps two runs apart.

const (
	stagingPrefix = ".nvskit-mfg-staging-"
	journalName   = "commit"
	journalMagic  = "nvskit mfg commit v1"
	asideDir      = "replaced"
	ownerName     = ".owner" // in an export staging directory: the path of its staging directory
)

// commitStep is called after each step of the commit (and of a recovery) with the step's
// name; an error stops the commit there as if the process had died. Tests set it.
var commitStep = func(step string) error { return nil }

// commitSteps are the step names commitStep is called with, in order.
var commitSteps = []string{"synced", "journal", "aside", "export", "certs", "keys", "bin", "manifest", "cleanup"}

// journal is what a committing staging directory records about itself.
type journal struct {
	exStage string // the export staging directory, or ""
}

// writeJournal writes the journal of stage. With durable (--sync), it is synced before the
// first rename, so that after a power loss the next run finishes the commit. Without it the
// journal is as durable as the staged files themselves (which are not synced either): it
// survives the process dying at any point, and the single sync of the directories at the end
// of the commit makes it durable together with the renames.
func writeJournal(stage string, j journal, durable bool) error {
	var b strings.Builder
	b.WriteString(journalMagic + "\n")
	if j.exStage != "" {
		b.WriteString("export " + j.exStage + "\n")
	}
	p := filepath.Join(stage, journalName)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	if durable {
		// The file's sync also makes its name durable on the file systems nvskit is used on
		// (ext4, XFS and btrfs log the new entry with the file).
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// readJournal reads the journal of a staging directory; ok is false when there is none (the
// run never got to commit).
func readJournal(stage string) (j journal, ok bool, err error) {
	f, err := os.Open(filepath.Join(stage, journalName))
	if errors.Is(err, fs.ErrNotExist) {
		return j, false, nil
	}
	if err != nil {
		return j, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	if !sc.Scan() || sc.Text() != journalMagic {
		// A torn journal: the process died while writing it, before the first rename, or
		// power was lost before the journal reached the disk (without Sync); either way no
		// rename of this batch can be trusted to be there, so the batch is dropped.
		return j, false, nil
	}
	for sc.Scan() {
		if p, found := strings.CutPrefix(sc.Text(), "export "); found {
			j.exStage = p
		}
	}
	return j, true, sc.Err()
}

// finish performs steps 2 to 6 of the commit of the staging directory stage inside dir. It
// can be repeated after an interruption at any point: whatever was moved is no longer in the
// staging directory.
func finish(dir, stage string, j journal) error {
	// The directories that gain or lose entries are synced once, before the staging
	// directory (and its journal) goes: until then a rerun would redo what a power loss undid.
	touched := map[string]bool{}
	// 2. Move aside the images that are replaced.
	if err := moveAside(filepath.Join(stage, "bin"), filepath.Join(dir, "bin"), filepath.Join(stage, asideDir), touched); err != nil {
		return err
	}
	if err := commitStep("aside"); err != nil {
		return err
	}
	// 3. Exported keys and certificates, certificates, keys.
	if j.exStage != "" {
		if err := moveInto(j.exStage, filepath.Dir(j.exStage), true, touched); err != nil {
			return fmt.Errorf("moving files into %s: %w", filepath.Dir(j.exStage), err)
		}
	}
	if err := commitStep("export"); err != nil {
		return err
	}
	for _, sub := range []string{"certs", "keys", "bin"} {
		if err := moveInto(filepath.Join(stage, sub), filepath.Join(dir, sub), false, touched); err != nil {
			return fmt.Errorf("moving files into %s: %w", filepath.Join(dir, sub), err)
		}
		if err := commitStep(sub); err != nil {
			return err
		}
	}
	// 5. The manifest.
	if err := os.Rename(filepath.Join(stage, ManifestName), filepath.Join(dir, ManifestName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	touched[dir] = true
	for d := range touched {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	if err := commitStep("manifest"); err != nil {
		return err
	}
	// 6. Clean up. The journal goes last: until the directory is gone, a rerun finds it
	// committed and finishes the cleanup.
	if j.exStage != "" {
		if err := os.RemoveAll(j.exStage); err != nil {
			return err
		}
	}
	for _, e := range []string{"bin", "keys", "certs", asideDir, ManifestName} {
		if err := os.RemoveAll(filepath.Join(stage, e)); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(stage); err != nil {
		return err
	}
	return commitStep("cleanup")
}

// moveAside moves every file of dst that a file of src will replace into aside.
func moveAside(src, dst, aside string, touched map[string]bool) error {
	names, err := readNames(src)
	if err != nil || len(names) == 0 {
		return err
	}
	if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	moved := false
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(dst, n)); err != nil {
			continue
		}
		if !moved {
			if err := os.Mkdir(aside, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			moved = true
		}
		if err := os.Rename(filepath.Join(dst, n), filepath.Join(aside, n)); err != nil {
			return err
		}
	}
	if moved {
		touched[dst] = true
	}
	return nil
}

// readNames returns the names in dir, or none if dir does not exist.
func readNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

// moveInto moves the entries of src into dst: the whole directory with one rename when dst
// does not exist yet (unless entries is set, for an export staging directory, whose owner
// file stays), else entry by entry. A missing or empty src
// moves nothing. The directories that changed are added to touched.
func moveInto(src, dst string, entries bool, touched map[string]bool) error {
	d, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	first, err := d.Readdirnames(1)
	if err == io.EOF || len(first) == 0 {
		return nil
	}
	if !entries {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			d.Close()
			if err := os.Rename(src, dst); err != nil {
				return err
			}
			touched[filepath.Dir(dst)] = true
			return nil
		}
	}
	pending := first
	for {
		for _, n := range pending {
			if entries && n == ownerName {
				continue
			}
			if err := os.Rename(filepath.Join(src, n), filepath.Join(dst, n)); err != nil {
				return err
			}
		}
		pending, err = d.Readdirnames(1024)
		if err == io.EOF || len(pending) == 0 {
			break
		}
		if err != nil {
			return err
		}
	}
	touched[dst] = true
	return nil
}

// Recovered describes what OpenOutput did about the staging directories of earlier runs.
type Recovered struct {
	// Finished lists the staging directories whose interrupted commit was finished.
	Finished []string
	// Removed lists the staging directories of runs that never committed, now removed.
	Removed []string
}

// recover finishes or removes the staging directories that earlier runs left in dir (the
// caller holds dir's lock, so none of them belongs to a live run), and removes uncommitted
// export staging directories in exportDir.
func recoverStaging(dir, exportDir string) (Recovered, error) {
	var rec Recovered
	names, err := readNames(dir)
	if err != nil {
		return rec, err
	}
	for _, n := range names {
		if !strings.HasPrefix(n, stagingPrefix) {
			continue
		}
		stage := filepath.Join(dir, n)
		j, committing, err := readJournal(stage)
		if err != nil {
			return rec, fmt.Errorf("%s: %w", stage, err)
		}
		if committing {
			if err := finish(dir, stage, j); err != nil {
				return rec, fmt.Errorf("finishing the interrupted commit in %s: %w", stage, err)
			}
			rec.Finished = append(rec.Finished, stage)
			continue
		}
		if err := os.RemoveAll(stage); err != nil {
			return rec, err
		}
		rec.Removed = append(rec.Removed, stage)
	}
	if exportDir != "" {
		names, err := readNames(exportDir)
		if err != nil {
			return rec, err
		}
		for _, n := range names {
			if !strings.HasPrefix(n, stagingPrefix) {
				continue
			}
			p := filepath.Join(exportDir, n)
			// Leave it to its owner's recovery when the owner is committing.
			if owner, err := os.ReadFile(filepath.Join(p, ownerName)); err == nil {
				if _, committing, _ := readJournal(string(owner)); committing {
					continue
				}
			}
			if err := os.RemoveAll(p); err != nil {
				return rec, err
			}
			rec.Removed = append(rec.Removed, p)
		}
	}
	return rec, nil
}
