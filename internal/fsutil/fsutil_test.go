package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noTemps fails when a temporary file of nvskit's is left in dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), tempInfix) {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestWriteRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k.bin")
	if err := WriteFile(p, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(p, []byte("new"), 0o600)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second write: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "secret" {
		t.Errorf("existing file changed: %q", b)
	}
	if err := Write(p, []byte("forced"), Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "forced" {
		t.Errorf("--force did not replace: %q", b)
	}
	// A file made by this run may be written again by it.
	var made Made
	q := filepath.Join(dir, "q.bin")
	for i := 0; i < 2; i++ {
		if err := Write(q, []byte{byte(i)}, Options{Made: &made}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	// A dangling symbolic link counts as existing for CheckNew.
	os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling"))
	if err := CheckNew(filepath.Join(dir, "dangling"), Options{}); !errors.Is(err, ErrExists) {
		t.Errorf("dangling link: %v", err)
	}
	noTemps(t, dir)
}

func TestWriteCreatesDirsAndUndoes(t *testing.T) {
	dir := t.TempDir()
	var made Made
	p := filepath.Join(dir, "a", "b", "x.bin")
	if err := Write(p, []byte("x"), Options{Made: &made}); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "a", "y.bin"), []byte("y"), Options{Made: &made}); err != nil {
		t.Fatal(err)
	}
	made.Undo()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Undo left %v", entries)
	}
	// A failing write removes the directories it created: here the temporary file's name
	// is too long for the file system.
	err := Write(filepath.Join(dir, "new", "sub", strings.Repeat("x", 250)), []byte("x"), Options{})
	if err == nil {
		t.Fatal("write with an overlong name succeeded")
	}
	if strings.Contains(err.Error(), tempInfix) {
		t.Errorf("error names the temporary file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
		t.Error("failed write left the directory it created")
	}
	noTemps(t, dir)
}

func TestWriteErrorNamesTarget(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o600)
	err := Write(filepath.Join(dir, "file", "x.json"), []byte("x"), Options{})
	if err == nil || strings.Contains(err.Error(), tempInfix) {
		t.Errorf("error %v", err)
	}
}

func TestWriteThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.bin")
	os.WriteFile(real, []byte("old"), 0o640)
	link := filepath.Join(dir, "link.bin")
	os.Symlink("real.bin", link)
	if err := Write(link, []byte("new"), Options{Replace: true}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Lstat(link); st.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	st, _ := os.Stat(real)
	if b, _ := os.ReadFile(real); string(b) != "new" || st.Mode().Perm() != 0o640 {
		t.Errorf("target %q mode %v", b, st.Mode().Perm())
	}
	if r, _ := Resolve(link); r != real {
		t.Errorf("Resolve = %s", r)
	}
}

func TestCheckNotInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("x"), 0o644)
	link := filepath.Join(dir, "link.csv")
	os.Symlink(in, link)
	if err := CheckNotInput(filepath.Join(dir, "out.bin"), in); err != nil {
		t.Errorf("different file: %v", err)
	}
	if err := CheckNotInput(in, in); !errors.Is(err, ErrSameFile) {
		t.Errorf("same path: %v", err)
	}
	if err := CheckNotInput(link, in); !errors.Is(err, ErrSameFile) {
		t.Errorf("symlink to the input: %v", err)
	}
	if err := CheckNotInput(filepath.Join(dir, ".", "in.csv"), "", in); !errors.Is(err, ErrSameFile) {
		t.Errorf("unclean path: %v", err)
	}
}

func TestReadFileLimit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "big.bin")
	os.WriteFile(p, make([]byte, 5000), 0o600)
	_, err := ReadFile(p, 4096, "a keys partition")
	var le *LimitError
	if !errors.As(err, &le) || !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "4096 bytes, the limit for a keys partition") {
		t.Errorf("oversized: %v", err)
	}
	if b, err := ReadFile(p, 5000, "x"); err != nil || len(b) != 5000 {
		t.Errorf("at the limit: %d, %v", len(b), err)
	}
	if _, err := ReadFile(dir, 10, "x"); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "none"), 10, "x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	if Size(128<<20) != "128 MiB" || Size(4096) != "4096 bytes" || Size(64<<10) != "64 KiB" {
		t.Error(Size(128<<20), Size(4096), Size(64<<10))
	}
}

func TestStagingDir(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "sub", "out")
	s, err := NewStagingDir(target)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.Path, "nvs.csv"), []byte("x"), 0o600)
	if _, err := os.Stat(target); err == nil {
		t.Fatal("target visible before Commit")
	}
	if err := s.Commit(0o755); err != nil {
		t.Fatal(err)
	}
	s.Discard()
	if b, err := os.ReadFile(filepath.Join(target, "nvs.csv")); err != nil || string(b) != "x" {
		t.Errorf("after commit: %q %v", b, err)
	}
	s2, _ := NewStagingDir(filepath.Join(dir, "other"))
	s2.Discard()
	noTemps(t, dir)
	noTemps(t, filepath.Join(dir, "sub"))
}
