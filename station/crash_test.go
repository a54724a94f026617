package station_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/nvskit/nvskit/ledger"
	"github.com/nvskit/nvskit/station"
)

// lostRecord is a ledger whose first Record is lost, as when the station dies after the
// write and before the result is committed.
type lostRecord struct {
	ledger.Ledger
	lost atomic.Int32
}

func (l *lostRecord) Record(ctx context.Context, r ledger.Result) error {
	if l.lost.Add(1) == 1 {
		return errors.New("the station died before the result was committed")
	}
	return l.Ledger.Record(ctx, r)
}

// TestCrashPoints: the interrupted device is done again with the identity it was claimed for,
// whether the station stopped after the claim and before the write, or after the write and
// before the result was recorded.
func TestCrashPoints(t *testing.T) {
	ctx := context.Background()
	tbl := table(t, false)

	t.Run("claimed, not written", func(t *testing.T) {
		ln := newLine(t, 3)
		d := newDevice(t, "esp32s3", "02:00:00:00:02:01", tbl, false)
		// Another chip takes the first identity; this one's claim is committed, then the
		// station dies.
		if _, err := ln.l.Claim(ctx, ledger.ClaimRequest{MAC: "02:00:00:00:02:99", Chip: "ESP32-S3", Station: "old"}); err != nil {
			t.Fatal(err)
		}
		claimed, err := ln.l.Claim(ctx, ledger.ClaimRequest{MAC: d.mac, Chip: "ESP32-S3", Station: "old"})
		if err != nil {
			t.Fatal(err)
		}
		if err := ln.run(t, station.Options{}, newJig(t, d)); err != nil {
			t.Fatal(err)
		}
		id := checkDevice(t, ln.l, d.sim.Flash(), d.mac, nil)
		if id.ID != claimed.ID || id.Attempts != 2 {
			t.Fatalf("the chip got %s (attempt %d); it was claimed for %s", id.ID, id.Attempts, claimed.ID)
		}
	})

	t.Run("written, not recorded", func(t *testing.T) {
		ln := newLine(t, 3)
		lr := &lostRecord{Ledger: ln.l}
		ln.l = lr
		d := newDevice(t, "esp32s3", "02:00:00:00:02:02", tbl, false)
		if err := ln.run(t, station.Options{}, newJig(t, d)); err != nil {
			t.Fatal(err)
		}
		if lr.lost.Load() < 2 {
			t.Fatal("the lost result was not recorded again")
		}
		id := checkDevice(t, lr.Ledger, d.sim.Flash(), d.mac, nil)
		evs, err := lr.Ledger.Events(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		bound := 0
		for _, e := range evs {
			if e.Kind == "claim" {
				bound++
				if e.Identity != id.ID || e.MAC != d.mac {
					t.Fatalf("claim %+v; the chip holds %s", e, id.ID)
				}
			}
		}
		if bound != 1 || id.Attempts != 2 {
			t.Fatalf("%d claims, %d attempts; want the one identity claimed once, and again", bound, id.Attempts)
		}
	})
}
