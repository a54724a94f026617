//go:build linux || darwin

package main

import (
	"bytes"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuf is a bytes.Buffer that a process may write while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// buildNvskit builds the nvskit binary into a temporary folder.
func buildNvskit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nvskit")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestInterrupt runs the built binary, stops it with SIGINT or SIGTERM while it works, and
// checks that it stops within a second, exits 130 or 143 with "interrupted; nothing was
// written", and leaves no file behind.
func TestInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildNvskit(t)
	dir := t.TempDir()
	run := func(args ...string) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	os.WriteFile(filepath.Join(dir, "nvs.csv"), []byte("key,type,encoding,value\nwifi,namespace,,\nssid,data,string,Net\n"), 0o644)
	run("generate", "nvs.csv", "nvs.bin", "0x6000")

	// A set that waits for the lock another process holds on the image: a long-running
	// command that writes a file.
	lock, err := os.Open(filepath.Join(dir, "nvs.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	// A read from a simulated chip with a slow UART: a long-running device command.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	sim := exec.Command(bin, "simulate", "--listen", addr, "--baud", "9600")
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sim.Process.Signal(syscall.SIGINT); sim.Wait() }()
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	set := []string{"set", "nvs.bin", "wifi", "ssid", "--type", "string", "--value", "X"}
	read := []string{"read", "--port", "socket://" + addr, "--baud", "9600", "--partition", "nvs", "-o", "dump.bin"}
	for _, c := range []struct {
		args  []string
		sig   syscall.Signal
		code  int
		ready string
	}{
		{set, syscall.SIGINT, 130, "waiting"},
		{set, syscall.SIGTERM, 143, "waiting"},
		{read, syscall.SIGINT, 130, "Connected"},
	} {
		before, _ := os.ReadDir(dir)
		cmd := exec.Command(bin, c.args...)
		cmd.Dir = dir
		stderr := new(syncBuf)
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until it is at work.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stderr.String(), c.ready) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		cmd.Process.Signal(c.sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v: still running 3 s after the signal", c.sig)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("%v: took %v to stop", c.sig, d)
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != c.code {
			t.Errorf("%v %v: %v, want exit %d; %s", c.args[0], c.sig, err, c.code, stderr)
		}
		if !strings.Contains(stderr.String(), "interrupted; nothing was written") || strings.Contains(stderr.String(), "context canceled") {
			t.Errorf("%v: stderr %q", c.sig, stderr.String())
		}
		after, _ := os.ReadDir(dir)
		if len(after) != len(before) {
			t.Errorf("%v: files left: %v", c.sig, after)
		}
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}
