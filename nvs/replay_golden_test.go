package nvs_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/nvskit/nvskit/internal/golden"
	"github.com/nvskit/nvskit/nvs"
)

// applyOp runs one ops.txt operation on the editor.
func applyOp(e *nvs.Editor, op golden.Op) error {
	switch op.Kind {
	case "reboot":
		return e.Remount()
	case "erase":
		return e.Erase(op.NS, op.Key)
	case "erase_all":
		return e.EraseNamespace(op.NS)
	case "set":
		it := nvs.Item{Namespace: op.NS, Key: op.Key}
		switch op.Type {
		case "string":
			it = nvs.String(op.NS, op.Key, string(op.Data))
		case "blob":
			it = nvs.Blob(op.NS, op.Key, op.Data)
		default:
			t, ok := nvs.ParseType(op.Type)
			if !ok {
				return fmt.Errorf("type %q", op.Type)
			}
			it.Type, it.Value = t, op.Int
		}
		return e.Set(it)
	}
	return fmt.Errorf("op %q cannot be replayed", op.Kind)
}

func rcMatches(rc string, err error) bool {
	switch rc {
	case "ESP_ERR_NVS_NOT_FOUND":
		return errors.Is(err, nvs.ErrNotFound)
	case "ESP_ERR_NVS_NOT_ENOUGH_SPACE":
		return errors.Is(err, nvs.ErrNotEnoughSpace)
	case "ESP_ERR_NVS_VALUE_TOO_LONG":
		return errors.Is(err, nvs.ErrValueTooLong)
	}
	return err != nil
}

// replay applies ops (those after line `after`) to the editor and checks that exactly the
// expected operations fail.
func replay(t *testing.T, c *golden.DeviceCase, e *nvs.Editor, ops []golden.Op, after int) {
	t.Helper()
	fails := map[int]string{}
	for _, f := range c.ExpectedFailures {
		fails[f.Line] = f.RC
	}
	for _, op := range ops {
		if op.Line <= after {
			continue
		}
		err := applyOp(e, op)
		if rc, ok := fails[op.Line]; ok {
			if !rcMatches(rc, err) {
				t.Errorf("line %d: got %v, want %s", op.Line, err, rc)
			}
			continue
		}
		if err != nil {
			t.Fatalf("line %d (%s %s/%s): %v", op.Line, op.Kind, op.NS, op.Key, err)
		}
	}
}

func firstDiff(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference at 0x%x (page %d, offset 0x%x)", i, i/nvs.PageSize, i%nvs.PageSize)
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(a), len(b))
}

// TestDeviceReplay replays each case's history with the editor and compares the result with
// the image the device wrote: the live content must match, and the bytes must be identical.
func TestDeviceReplay(t *testing.T) {
	identical, total := 0, 0
	for _, c := range loadDevice(t) {
		t.Run(c.Name, func(t *testing.T) {
			ops, err := c.Ops()
			if err != nil {
				t.Fatal(err)
			}
			want, err := c.Read("expected")
			if err != nil {
				t.Fatal(err)
			}
			var keys *nvs.Keys
			if c.Encrypted {
				k := readKeys(t, &c)
				keys = &k
			}
			var start []byte
			after := 0
			switch {
			case c.Powercut != nil && c.Powercut.Kind == "raw":
				// The history cannot be replayed (the cut is at flash level); check the
				// mount-time recovery instead: mounting expected.bin gives after_mount.bin.
				am, err := c.Read("after_mount")
				if err != nil {
					t.Fatal(err)
				}
				e, err := nvs.NewEditor(want, keys)
				if err != nil {
					t.Fatal(err)
				}
				total++
				if got := e.Image(); !bytes.Equal(got, am) {
					t.Errorf("mount recovery differs from after_mount.bin: %s", firstDiff(got, am))
				} else {
					identical++
				}
				return
			case c.Powercut != nil:
				if start, err = c.Read("cut"); err != nil {
					t.Fatal(err)
				}
				after = c.Powercut.ResumeAfterLine
			default:
				if start, err = c.StartImage(); err != nil {
					t.Fatal(err)
				}
			}
			e, err := nvs.NewEditor(start, keys)
			if err != nil {
				t.Fatal(err)
			}
			replay(t, &c, e, ops, after)
			got := e.Image()
			total++
			// Live content first.
			var gim, wim *nvs.Image
			if keys != nil {
				gim, err = nvs.ParseWithKeys(got, *keys)
				if err == nil {
					wim, err = nvs.ParseWithKeys(want, *keys)
				}
			} else {
				gim, err = nvs.Parse(got)
				if err == nil {
					wim, err = nvs.Parse(want)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			diffSets(t, "live content", recordSet(gim), recordSet(wim))
			if !bytes.Equal(got, want) {
				t.Errorf("replayed image is not byte-identical to expected.bin: %s", firstDiff(got, want))
				return
			}
			identical++
		})
	}
	t.Logf("byte-identical: %d of %d", identical, total)
}
