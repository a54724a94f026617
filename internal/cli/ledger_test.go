//go:build !nofactory

package cli

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/esploader/loadersim"
	"github.com/nvskit/nvskit/partition"
)

const ledgerConfig = "dev,namespace,\nserial,data,string\nport_no,data,u16\nmodel,data,string,REPEAT\n"

func ledgerDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.csv"), []byte(ledgerConfig), 0o644)
	os.WriteFile(filepath.Join(dir, "values.csv"), []byte("serial,port_no,model,note\nSN1,80,M1,a\nSN2,81,,b\nSN3,82,,c\n"), 0o644)
	if code, _, errb := runIn(t, dir, "ledger", "init"); code != 0 {
		t.Fatalf("ledger init: %d %s", code, errb)
	}
	return dir
}

func TestLedgerImportRefusesABadRow(t *testing.T) {
	dir := ledgerDir(t)
	os.WriteFile(filepath.Join(dir, "bad.csv"), []byte("serial,port_no,model\nSN1,80,M1\nSN2,70000,M1\nSN3,82,M1\n"), 0o644)
	code, _, errb := runIn(t, dir, "ledger", "import", "bad.csv", "--config", "config.csv", "--fileid", "serial")
	if code != 1 || !strings.Contains(errb, "bad.csv:3: column 2 (port_no)") || !strings.Contains(errb, "nothing was imported") {
		t.Fatalf("import of a bad row: exit %d, %s", code, errb)
	}
	_, out, _ := runIn(t, dir, "ledger", "status", "--json")
	var st struct{ Total int }
	json.Unmarshal([]byte(out), &st)
	if st.Total != 0 {
		t.Fatalf("a refused import left %d identities", st.Total)
	}
	// A duplicate file id is refused too.
	os.WriteFile(filepath.Join(dir, "dup.csv"), []byte("serial,port_no,model\nSN1,80,M1\nSN1,81,M1\n"), 0o644)
	if code, _, errb := runIn(t, dir, "ledger", "import", "dup.csv", "--config", "config.csv", "--fileid", "serial"); code != 1 || !strings.Contains(errb, "dup.csv:3") {
		t.Fatalf("import of a duplicate id: exit %d, %s", code, errb)
	}
	// So is a row that does not fit --size.
	if code, _, errb := runIn(t, dir, "ledger", "import", "values.csv", "--config", "config.csv", "--fileid", "serial", "--size", "0x3000"); code != 0 {
		t.Fatalf("import: %d %s", code, errb)
	}
	if code, _, errb := runIn(t, dir, "ledger", "import", "values.csv", "--config", "config.csv", "--fileid", "serial"); code != 1 || !strings.Contains(errb, `"SN1"`) {
		t.Fatalf("import of the same ids again: exit %d, %s", code, errb)
	}
}

func TestLedgerAddShowExportRelease(t *testing.T) {
	dir := ledgerDir(t)
	if code, out, errb := runIn(t, dir, "ledger", "add", "--serial-format", "SN%06d", "--count", "3"); code != 0 || !strings.Contains(out, "SN000001 to SN000003") {
		t.Fatalf("add: %d %s %s", code, out, errb)
	}
	if code, out, _ := runIn(t, dir, "ledger", "add", "--serial-format", "SN%06d", "--count", "2"); code != 0 || !strings.Contains(out, "SN000004 to SN000005") {
		t.Fatalf("add again does not continue the numbering: %s", out)
	}
	for _, bad := range []string{"SN", "SN%s", "%d-%d", "a/%d"} {
		if code, _, _ := runIn(t, dir, "ledger", "add", "--serial-format", bad, "--count", "1"); code != 2 {
			t.Errorf("--serial-format %q: exit %d, want 2", bad, code)
		}
	}
	code, out, _ := runIn(t, dir, "ledger", "export", "--format", "json")
	var recs []map[string]any
	if err := json.Unmarshal([]byte(out), &recs); code != 0 || err != nil || len(recs) != 5 {
		t.Fatalf("export json: %d %v %s", code, err, out)
	}
	for _, k := range []string{"id", "mac", "state", "cert_sha256"} {
		if _, ok := recs[0][k]; !ok {
			t.Fatalf("export record has no %q: %v", k, recs[0])
		}
	}
	if recs[0]["id"] != "SN000001" || recs[0]["state"] != "available" {
		t.Fatalf("first record %v", recs[0])
	}
	_, out, _ = runIn(t, dir, "ledger", "export", "--format", "csv", "--state", "available")
	if !strings.HasPrefix(out, "id,mac,state,chip,cert_sha256,") || strings.Count(out, "\n") != 6 {
		t.Fatalf("export csv:\n%s", out)
	}
	if code, _, errb := runIn(t, dir, "ledger", "export", "--format", "xml"); code != 2 {
		t.Fatalf("--format xml: %d %s", code, errb)
	}
	if code, _, _ := runIn(t, dir, "ledger", "export", "-o", "out.json"); code != 0 {
		t.Fatal("export -o failed")
	}
	if code, _, errb := runIn(t, dir, "ledger", "export", "-o", "out.json"); code != 1 || !strings.Contains(errb, "--force") {
		t.Fatalf("export over an existing file: %d %s", code, errb)
	}
	if code, out, _ := runIn(t, dir, "ledger", "show", "SN000002"); code != 0 || !strings.Contains(out, "available") || strings.Contains(out, "row serial") {
		t.Fatalf("show: %d %s", code, out)
	}
	if code, out, _ := runIn(t, dir, "ledger", "show", "SN000002", "--row"); code != 0 || !strings.Contains(out, "row serial") {
		t.Fatalf("show --row: %d %s", code, out)
	}
	if code, _, errb := runIn(t, dir, "ledger", "show", "nope"); code != 1 || !strings.Contains(errb, "no such identity") {
		t.Fatalf("show of an unknown id: %d %s", code, errb)
	}
	if code, _, errb := runIn(t, dir, "ledger", "release", "SN000001"); code != 1 || !strings.Contains(errb, "available already") {
		t.Fatalf("release of an available identity: %d %s", code, errb)
	}
}

func TestLedgerNeedsInit(t *testing.T) {
	dir := t.TempDir()
	code, _, errb := runIn(t, dir, "ledger", "status")
	if code != 1 || !strings.Contains(errb, "nvskit ledger init") {
		t.Fatalf("status without a ledger: %d %s", code, errb)
	}
	if _, err := os.Stat(filepath.Join(dir, "nvskit-ledger.db")); err == nil {
		t.Fatal("status created the ledger file")
	}
}

// simJig serves a simulated chip with an fctry partition on 127.0.0.1.
func simJig(t *testing.T, chip, mac string) (string, *loadersim.Sim) {
	t.Helper()
	hw, _ := net.ParseMAC(mac)
	sim, err := loadersim.New(loadersim.Config{Chip: chip, FlashSize: 1 << 20, MAC: hw, NoBanner: true})
	if err != nil {
		t.Fatal(err)
	}
	tb := &partition.Table{Offset: partition.DefaultOffset, Partitions: []partition.Partition{
		{Name: "fctry", Type: partition.TypeData, SubType: partition.SubtypeNVS, Offset: 0x9000, Size: 0x3000},
		{Name: "factory", Type: partition.TypeApp, SubType: partition.SubtypeFactory, Offset: 0x10000, Size: 0x10000},
	}}
	b, _ := tb.MarshalBinary()
	sim.SetFlash(0x8000, b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sim.ServeListener(ln)
	t.Cleanup(func() { ln.Close() })
	return "socket://" + ln.Addr().String(), sim
}

func TestStationOnce(t *testing.T) {
	dir := ledgerDir(t)
	if code, _, errb := runIn(t, dir, "ledger", "import", "values.csv", "--config", "config.csv", "--fileid", "serial"); code != 0 {
		t.Fatalf("import: %s", errb)
	}
	p, _ := simJig(t, "esp32c3", "02:00:00:00:00:0A")
	code, out, errb := runIn(t, dir, "station", "--config", "config.csv", "--partition", "fctry", "--chip", "esp32c3",
		"--port", p, "--once", "--json", "--station", "t1", "--baud", "115200")
	if code != 0 {
		t.Fatalf("station: %d %s %s", code, out, errb)
	}
	var last map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if e["event"] == "provisioned" {
			last = e
		}
	}
	if last == nil || last["id"] != "SN1" || last["mac"] != "02:00:00:00:00:0a" || last["station"] != "t1" {
		t.Fatalf("provisioned event %v", last)
	}
	_, out, _ = runIn(t, dir, "ledger", "export", "--state", "provisioned")
	if !strings.Contains(out, `"mac":"02:00:00:00:00:0a"`) || !strings.Contains(out, `"state":"provisioned"`) {
		t.Fatalf("export after the station: %s", out)
	}
	// A chip of another type is refused before anything is written.
	p2, sim := simJig(t, "esp32s3", "02:00:00:00:00:0B")
	before := sim.Flash()
	code, out, errb = runIn(t, dir, "station", "--config", "config.csv", "--partition", "fctry", "--chip", "esp32c3",
		"--port", p2, "--once", "--baud", "115200")
	if code != 1 || !strings.Contains(out+errb, "REFUSED") || !strings.Contains(errb, "wrong chip type") {
		t.Fatalf("wrong chip: %d %s %s", code, out, errb)
	}
	if string(before) != string(sim.Flash()) {
		t.Fatal("the refused chip was written")
	}
	if code, _, _ := runIn(t, dir, "station", "--config", "config.csv", "--partition", "fctry", "--chip", "esp99", "--port", p2); code != 2 {
		t.Fatalf("--chip esp99: exit %d", code)
	}
}

func TestSimulateMAC(t *testing.T) {
	if code, _, errb := runIn(t, t.TempDir(), "simulate", "--mac", "02:00", "--listen", "127.0.0.1:0"); code != 2 || !strings.Contains(errb, "--mac") {
		t.Fatalf("simulate --mac 02:00: %d %s", code, errb)
	}
}

// TestLedgerImportCertConfig: a config with x509 rows is checked at import with a throwaway
// CA (the stations issue the real certificates), and a certificate that cannot fit is refused.
func TestLedgerImportCertConfig(t *testing.T) {
	dir := ledgerDir(t)
	os.WriteFile(filepath.Join(dir, "cconf.csv"), []byte("certs,namespace,\nserial,data,string\ndevice_cert,x509_cert,string\ndevice_key,x509_key,string\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "cvals.csv"), []byte("serial\nC1\nC2\n"), 0o644)
	if code, out, errb := runIn(t, dir, "ledger", "import", "cvals.csv", "--config", "cconf.csv", "--fileid", "serial", "--size", "0x3000"); code != 0 || !strings.Contains(out, "Imported 2") {
		t.Fatalf("import with x509 rows: %d %s %s", code, out, errb)
	}
	os.WriteFile(filepath.Join(dir, "big.csv"), []byte("serial,blob\nB1,"+strings.Repeat("ab", 9000)+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bigconf.csv"), []byte("certs,namespace,\nserial,data,string\nblob,data,hex2bin\ndevice_cert,x509_cert,string\n"), 0o644)
	if code, _, errb := runIn(t, dir, "ledger", "import", "big.csv", "--config", "bigconf.csv", "--fileid", "serial", "--size", "0x3000"); code != 1 || !strings.Contains(errb, "big.csv:2") {
		t.Fatalf("import of a row that cannot fit: %d %s", code, errb)
	}
}

// --help never prints $NVSKIT_DB (a postgres:// URL may hold a password), and names the
// default once.
func TestLedgerHelpHidesDBFromEnv(t *testing.T) {
	t.Setenv("NVSKIT_DB", "postgres://line:s3cret-pw@db.example/factory")
	for _, args := range [][]string{{"ledger", "status", "--help"}, {"station", "--help"}} {
		_, out, errOut := runIn(t, t.TempDir(), args...)
		if strings.Contains(out+errOut, "s3cret-pw") {
			t.Errorf("%v prints the password of $NVSKIT_DB:\n%s%s", args, out, errOut)
		}
		if n := strings.Count(out+errOut, "default $NVSKIT_DB"); n != 1 || strings.Contains(out+errOut, `(default "nvskit-ledger.db`) {
			t.Errorf("%v: the --db default is not named exactly once:\n%s", args, out)
		}
	}
}

// An import holds its rows in memory until it commits: a VALUES.csv past maxValues is refused
// before anything is read, with the way out (split it).
func TestLedgerImportSizeLimit(t *testing.T) {
	dir := ledgerDir(t)
	big := filepath.Join(dir, "big.csv")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("serial,port_no,model\n")
	if err := f.Truncate(1<<30 + 1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	code, _, errb := runIn(t, dir, "ledger", "import", "big.csv", "--config", "config.csv", "--fileid", "serial")
	if code != 1 || !strings.Contains(errb, "the limit for a VALUES.csv") || !strings.Contains(errb, "split the file") {
		t.Fatalf("import of a file over the limit: exit %d, %s", code, errb)
	}
}
