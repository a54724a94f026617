package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k.bin")
	if err := WriteFile(p, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode().Perm(), err)
	}
	if err := WriteFile(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("content %q", b)
	}
	// A failed write leaves nothing behind: the directory does not exist.
	if err := WriteFile(filepath.Join(dir, "missing", "x.bin"), []byte("x"), 0o644); err == nil {
		t.Error("write into a missing directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
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
