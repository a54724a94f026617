package loadersim_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nvskit/nvskit/esploader/loadersim"
)

const peerDir = "testdata/esptooljs"

// peerInstall is the command that installs the esptool-js peer (from the module root).
const peerInstall = "npm ci --prefix esploader/loadersim/testdata/esptooljs"

// needPeer skips (or, under CI, fails) when node or the installed esptool-js is missing.
func needPeer(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(peerDir, "node_modules", "esptool-js", "package.json"))
	}
	if err != nil {
		msg := "the esptool-js peer is not installed (" + err.Error() + "); run: " + peerInstall
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node
}

// TestEsptoolJSPeer checks the simulator with an independent client: esptool-js connects over
// TCP, detects the chip, writes the golden NVS image compressed, verifies its MD5 on the chip
// and reads the start back with READ_FLASH_SLOW.
func TestEsptoolJSPeer(t *testing.T) {
	node := needPeer(t)
	image, err := filepath.Abs("../../testdata/golden/nvs-gen/seed_certs_0x6000/expected.bin")
	if err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	// esptool-js sends a 4-word FLASH_DEFL_BEGIN to the C5, C6, H2 and P4 ROMs, whose ROMs
	// take 5 words (as the simulator requires); it is only ever used there with its stub.
	for _, c := range []struct{ sim, want string }{
		{"esp32", "ESP32"}, {"esp32s2", "ESP32-S2"}, {"esp32s3", "ESP32-S3"}, {"esp32c2", "ESP32-C2"}, {"esp32c3", "ESP32-C3"},
	} {
		t.Run(c.sim, func(t *testing.T) {
			sim, err := loadersim.New(loadersim.Config{Chip: c.sim, FlashSize: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			sim.SetFlash(0x9000, bytes.Repeat([]byte{0x00}, 0x6000)) // must be erased first
			if last := runPeer(t, node, sim, "peer.mjs", image, "0x9000", c.want); !strings.HasPrefix(last, "OK "+c.want+" ") {
				t.Fatalf("esptool-js peer said %q", last)
			}
			if !bytes.Equal(sim.Flash()[0x9000:0x9000+len(img)], img) {
				t.Fatal("the simulator's flash differs from the image esptool-js wrote")
			}
		})
	}
}

// runPeer serves sim on a loopback port, runs the esptool-js script against it with the
// address followed by args, and returns the last line the script printed.
func runPeer(t *testing.T, node string, sim *loadersim.Sim, script string, args ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { sim.ServeListener(ln); close(done) }()
	defer func() { ln.Close(); <-done }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script, ln.Addr().String()}, args...)...)
	cmd.Dir = peerDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("esptool-js %s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return lines[len(lines)-1]
}
