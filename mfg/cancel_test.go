package mfg

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nvskit/nvskit/nvscsv"
)

// stalled returns a VALUES.csv stream that sends a header and n rows, then neither sends more
// nor ends, like a FIFO whose writer stalls.
func stalled(t *testing.T, n int, pipe string) (io.Reader, func()) {
	t.Helper()
	data := "serial,n\n"
	for i := range n {
		data += "SN-" + strings.Repeat("1", i+1) + ",1\n"
	}
	switch pipe {
	case "os.Pipe": // has SetReadDeadline: the blocked read is interrupted
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go w.WriteString(data)
		return r, func() { w.Close(); r.Close() }
	default: // io.Pipe cannot be interrupted: Run must return without it
		r, w := io.Pipe()
		go w.Write([]byte(data))
		return r, func() { w.Close() }
	}
}

// TestRunCancel cancels runs whose VALUES.csv blocks, before and after the header, and a run
// with a cancelled context, and checks that Run returns the context's error promptly and calls
// no Sink method after it returns.
func TestRunCancel(t *testing.T) {
	cfg, err := nvscsv.ParseMfgConfig("config.csv", strings.NewReader("ns,namespace,\nserial,data,string\nn,data,u8\n"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{Size: 0x3000, FileID: "serial", Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, pipe := range []string{"os.Pipe", "io.Pipe"} {
		for _, rows := range []int{-1, 0, 3} {
			name := pipe + "/no header"
			if rows >= 0 {
				name = pipe + "/" + strings.Repeat("r", rows) + "header"
			}
			t.Run(name, func(t *testing.T) {
				var r io.Reader
				var done func()
				if rows < 0 {
					pr, pw := io.Pipe()
					r, done = pr, func() { pw.Close() }
					if pipe == "os.Pipe" {
						or, ow, _ := os.Pipe()
						r, done = or, func() { ow.Close(); or.Close() }
					}
				} else {
					r, done = stalled(t, rows, pipe)
				}
				defer done()
				ctx, cancel := context.WithCancel(context.Background())
				var returned atomic.Bool
				var late atomic.Int32
				recorded := make(chan struct{}, 10)
				sink := RecordFunc(func(d *Device) error {
					if returned.Load() {
						late.Add(1)
					}
					recorded <- struct{}{}
					return nil
				})
				errc := make(chan error, 1)
				go func() {
					err := g.Run(ctx, "values.csv", r, sink)
					returned.Store(true)
					errc <- err
				}()
				for range max(rows, 0) {
					<-recorded // the rows that came are built and recorded
				}
				cancel()
				select {
				case err := <-errc:
					if !errors.Is(err, context.Canceled) {
						t.Errorf("Run returned %v, want context.Canceled", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Run did not return after the cancel")
				}
				if late.Load() != 0 {
					t.Error("Record was called after Run returned")
				}
			})
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err = g.Run(ctx, "values.csv", strings.NewReader("serial,n\nSN-1,1\n"), RecordFunc(func(*Device) error { called = true; return nil }))
	if !errors.Is(err, context.Canceled) || called {
		t.Errorf("cancelled context: %v, record called %v", err, called)
	}
}
