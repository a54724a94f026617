package port_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/port"
)

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	noperm := filepath.Join(dir, "ttyNOPERM")
	os.WriteFile(noperm, nil, 0)
	cases := []struct {
		name string
		want error
	}{
		{filepath.Join(dir, "ttyUSB9"), port.ErrNotFound},
		{"", port.ErrNotFound},
		{"socket://127.0.0.1:1", port.ErrRefused},
		{"rfc2217://127.0.0.1:4000", port.ErrRFC2217},
	}
	if runtime.GOOS == "linux" && os.Getuid() != 0 {
		cases = append(cases, struct {
			name string
			want error
		}{noperm, port.ErrPermission})
	}
	for _, c := range cases {
		_, err := port.Open(c.name, 0)
		if err == nil {
			t.Errorf("%q: no error", c.name)
			continue
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%q: %v, want %v", c.name, err, c.want)
		}
		if errors.Is(err, port.ErrRefused) && !strings.Contains(err.Error(), "nvskit simulate") {
			t.Errorf("%q: %v does not ask whether the simulator runs", c.name, err)
		}
		if errors.Is(err, port.ErrPermission) && !strings.Contains(err.Error(), "dialout") {
			t.Errorf("%q: %v does not mention the dialout group", c.name, err)
		}
	}
}

func TestUSBJTAG(t *testing.T) {
	if !(port.Info{VID: "303A", PID: "1001"}).USBJTAG() || (port.Info{VID: "10C4", PID: "EA60"}).USBJTAG() {
		t.Fatal("USBJTAG")
	}
}
