package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/port"
)

// Without --port and $NVSKIT_PORT, a device command uses the one ESP board found, and says so;
// with none or several it is a usage error naming what was found.
func TestPortAutoDetect(t *testing.T) {
	t.Setenv("NVSKIT_PORT", "")
	p, _ := simPort(t, loadersim.Config{Chip: "esp32c3"}, false)
	defer func(f func() (port.Info, error)) { detectPort = f }(detectPort)

	detectPort = func() (port.Info, error) { return port.Info{Name: p, Bridge: "CP210x"}, nil }
	code, out, stderr := runIn(t, "", "device", "info")
	if code != 0 || !strings.Contains(out, "ESP32-C3") || !strings.Contains(stderr, "Using "+p+" (CP210x), the only ESP board found") {
		t.Fatalf("one board: %d %s %s", code, out, stderr)
	}

	detectPort = func() (port.Info, error) {
		return port.Info{}, fmt.Errorf("%w: /dev/ttyUSB0, /dev/ttyUSB1", port.ErrSeveralESP)
	}
	code, _, stderr = runIn(t, "", "device", "info")
	if code != 2 || !strings.Contains(stderr, "--port is required: more than one ESP board found: /dev/ttyUSB0, /dev/ttyUSB1") || !strings.Contains(stderr, "$NVSKIT_PORT") {
		t.Fatalf("two boards: %d %s", code, stderr)
	}

	// $NVSKIT_PORT wins over detection.
	t.Setenv("NVSKIT_PORT", p)
	code, out, stderr = runIn(t, "", "device", "info")
	if code != 0 || !strings.Contains(out, "ESP32-C3") || strings.Contains(stderr, "Using ") {
		t.Fatalf("$NVSKIT_PORT: %d %s %s", code, out, stderr)
	}
}

func TestPortsJSON(t *testing.T) {
	code, out, stderr := runIn(t, "", "ports", "--json")
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "[") {
		t.Fatalf("%d %q %s", code, out, stderr)
	}
}
