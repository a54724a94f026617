package nvscsv

import (
	"errors"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/nvs"
)

const hdr = "key,type,encoding,value\n"

// TestParseRefusals: input the device cannot use, or that is plainly not what the user meant,
// is refused with a message that says what was found and what to do, and never echoes a huge
// or secret-looking value whole.
func TestParseRefusals(t *testing.T) {
	pem := "\"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----\""
	for _, tc := range []struct {
		name, csv string
		version   nvs.Version
		want      []string
		not       []string
		is        error
	}{
		{name: "semicolons", csv: "key;type;encoding;value\nns;namespace;;\n", want: []string{"x.csv:1:", "separated by ';'", "comma"}, not: []string{"has no"}},
		{name: "tabs", csv: "key\ttype\tencoding\tvalue\n", want: []string{"separated by tabs"}},
		{name: "NUL in a string", csv: hdr + "ns,namespace,,\ns,data,string,a\x00b\n", want: []string{"x.csv:3:", "NUL", "blob"}, is: nvs.ErrNUL},
		{name: "NUL in a key", csv: hdr + "ns,namespace,,\nk\x00y,data,u8,1\n", want: []string{"x.csv:3:", "NUL"}, is: nvs.ErrNUL},
		{name: "NUL in a namespace", csv: hdr + "n\x00s,namespace,,\n", want: []string{"x.csv:2:", "NUL"}, is: nvs.ErrNUL},
		{name: "hex2bin 0x prefix", csv: hdr + "ns,namespace,,\nh,data,hex2bin,0xABCD\n", want: []string{"x.csv:3:", "drop the 0x prefix"}},
		{name: "PEM in a u32 row", csv: hdr + "ns,namespace,,\nn,data,u32," + pem + "\n", want: []string{"x.csv:3:", "not shown", "not a decimal integer"}, not: []string{"MIGH", "BEGIN"}},
		{name: "long bad value", csv: hdr + "ns,namespace,,\nn,data,u8," + strings.Repeat("9x", 5000) + "\n", want: []string{"(10000 bytes)"}},
		{name: "huge key", csv: hdr + "ns,namespace,,\n" + strings.Repeat("k", 10<<20) + ",data,u8,1\n", want: []string{"at most 15", "(10485760 bytes)"}},
		{name: "huge encoding", csv: hdr + "ns,namespace,,\nk,data," + strings.Repeat("e", 100000) + ",1\n", want: []string{"unknown encoding", "(100000 bytes)"}},
		{name: "V1 string over 1984", csv: hdr + "ns,namespace,,\ns,data,string," + strings.Repeat("a", 2500) + "\n", version: nvs.V1, want: []string{"use --version 2"}, not: []string{"binary encoding (a blob) instead"}},
		{name: "V1 string over 4000", csv: hdr + "ns,namespace,,\ns,data,string," + strings.Repeat("a", 5000) + "\n", version: nvs.V1, want: []string{"use --version 2", "binary"}},
		{name: "V2 string over 4000", csv: hdr + "ns,namespace,,\ns,data,string," + strings.Repeat("a", 5000) + "\n", want: []string{"binary encoding (a blob)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseFile("x.csv", strings.NewReader(tc.csv), Options{Version: tc.version})
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if len(msg) > 400 {
				t.Errorf("message is %d bytes long", len(msg))
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%.300q does not say %q", msg, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(msg, w) {
					t.Errorf("%.300q says %q", msg, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
		})
	}
}

// TestParseWarnings: rows that are accepted as the reference accepts them (the image stays
// the reference's) but are probably not meant get a warning naming the lines.
func TestParseWarnings(t *testing.T) {
	for _, tc := range []struct {
		name, csv string
		want      []string // each must appear in one warning
		none      bool     // no warning at all
	}{
		{name: "duplicate key", csv: hdr + "ns,namespace,,\nk,data,u8,1\nk,data,u8,2\n",
			want: []string{"x.csv:4:", `key "k" is defined twice in namespace "ns": first at x.csv:3`, "reads only one"}},
		{name: "duplicate key of another type", csv: hdr + "ns,namespace,,\nk,data,u8,1\nother,data,u8,1\nk,data,string,x\n",
			want: []string{"x.csv:5:", "first at x.csv:3", "there as u8, here as string"}},
		{name: "duplicate after re-selecting the namespace", csv: hdr + "a,namespace,,\nk,data,u8,1\nb,namespace,,\na,namespace,,\nk,data,u8,2\n",
			want: []string{"x.csv:6:", "first at x.csv:3"}},
		{name: "same key in two namespaces", csv: hdr + "a,namespace,,\nk,data,u8,1\nb,namespace,,\nk,data,u8,2\n", none: true},
		{name: "space after the comma", csv: hdr + "ns,namespace,,\nssid, data, string, MyNet\n",
			want: []string{"x.csv:3:", "starts with white space", "space after each comma"}},
		{name: "space before a string value", csv: hdr + "ns,namespace,,\nssid,data,string, MyNet\n",
			want: []string{"x.csv:3:", "starts with white space"}},
		{name: "space before an integer", csv: hdr + "ns,namespace,,\nn, data, u8, 7\n", none: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, notices, err := ParseFile("x.csv", strings.NewReader(tc.csv), Options{})
			if err != nil {
				t.Fatal(err)
			}
			var warnings []string
			for _, n := range notices {
				if n.Warning {
					warnings = append(warnings, n.String())
				}
			}
			if tc.none && len(warnings) > 0 {
				t.Errorf("warnings: %q", warnings)
			}
			for _, w := range tc.want {
				found := false
				for _, got := range warnings {
					found = found || strings.Contains(got, w)
				}
				if !found {
					t.Errorf("no warning says %q: %q", w, warnings)
				}
			}
		})
	}
}

// TestParseSpaceAfterCommaKeepsBytes: the warned-about value is stored as the reference stores
// it, leading space included.
func TestParseSpaceAfterCommaKeepsBytes(t *testing.T) {
	rows, _, err := ParseFile("x.csv", strings.NewReader(hdr+"ns,namespace,,\nssid, data, string, MyNet\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(rows[1].Item.Data); got != " MyNet\x00" {
		t.Errorf("stored %q, want \" MyNet\\x00\"", got)
	}
}

func TestMfgConfigDuplicateWarning(t *testing.T) {
	cfg, err := ParseMfgConfig("c.csv", strings.NewReader("ns,namespace,\nk,data,u8\nj,data,u8\nk,data,string\nb,namespace,\nk,data,u8\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].String(), "c.csv:4:") || !strings.Contains(cfg.Warnings[0].Msg, "first at c.csv:2") {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
}

// TestMfgValuesSecretNotEchoed: a private key in a u32 column of VALUES.csv is not echoed.
func TestMfgValuesSecretNotEchoed(t *testing.T) {
	p := NewParser(Options{})
	p.AddRow("v.csv", 2, "ns", "namespace", "", "")
	err := p.AddRow("v.csv", 2, "n", "data", "u32", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n")
	if err == nil || strings.Contains(err.Error(), "MHcC") {
		t.Errorf("error %v", err)
	}
}

// TestMfgSemicolons: a config or values file saved with ';' separators is named as such.
func TestMfgSemicolons(t *testing.T) {
	if _, err := ParseMfgConfig("c.csv", strings.NewReader("ns;namespace;\nk;data;u8\n")); err == nil || !strings.Contains(err.Error(), "c.csv:1: the row is separated by ';'") {
		t.Errorf("config: %v", err)
	}
	cfg, err := ParseMfgConfig("c.csv", strings.NewReader("ns,namespace,\nk,data,u8\nj,data,u8\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMfgValues(cfg, "v.csv", strings.NewReader("k;j\n1;2\n"), ""); err == nil || !strings.Contains(err.Error(), "v.csv:1: the header is separated by ';'") {
		t.Errorf("values: %v", err)
	}
}

// TestMfgNULRefused: a NUL in a device's string value is refused as in a generate CSV.
func TestMfgNULRefused(t *testing.T) {
	p := NewParser(Options{})
	p.AddRow("v.csv", 2, "ns", "namespace", "", "")
	if err := p.AddRow("v.csv", 2, "s", "data", "string", "a\x00b"); !errors.Is(err, nvs.ErrNUL) {
		t.Errorf("NUL in a value: %v", err)
	}
}

// TestMfgConfigHugeKey: a 10 MB key in the config gives a short message.
func TestMfgConfigHugeKey(t *testing.T) {
	_, err := ParseMfgConfig("c.csv", strings.NewReader("ns,namespace,\n"+strings.Repeat("k", 10<<20)+",data,u8\n"))
	if err == nil || len(err.Error()) > 200 || !strings.Contains(err.Error(), "c.csv:2:") {
		t.Errorf("%.300v", err)
	}
}
