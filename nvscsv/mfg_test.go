package nvscsv

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestParseMfgConfig(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // rows as key/type/encoding/R, or the error substring after "!"
	}{
		{"basic", "ns,namespace,\nserial,data,string\nbatch,data,u16,REPEAT\n", "ns/namespace//;serial/data/string;batch/data/u16/R"},
		{"blank and comment lines", "\n  \nns,namespace,\n# note\nk,file,binary\r\n", "ns/namespace//;k/file/binary"},
		{"all generator types", "ns,namespace,\na,data,i16\nb,data,u64\nc,data,i64\nd,data,blob_fill(4;0xff)\n", "ns/namespace//;a/data/i16;b/data/u64;c/data/i64;d/data/blob_fill(4;0xff)"},
		{"x509", "ns,namespace,\nc,x509_cert,string\nk,x509_key,binary\n", "ns/namespace//;c/x509_cert/string;k/x509_key/binary"},
		{"bad encoding", "ns,namespace,\nk,data,u128\n", "!config.csv:2: key \"k\": unknown encoding"},
		{"bad type", "ns,namespace,\nk,dta,u8\n", "!config.csv:2: key \"k\": unknown type"},
		{"bad fourth field", "ns,namespace,\nk,data,u8,REPEATS\n", "!config.csv:2: field 4"},
		{"long key", "ns,namespace,\nabcdefghijklmnop,data,u8\n", "!at most 15"},
		{"x509 encoding", "ns,namespace,\nc,x509_cert,hex2bin\n", "!encoding string"},
		{"empty", "\n\n", "!no rows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseMfgConfig("config.csv", strings.NewReader(tc.in))
			if strings.HasPrefix(tc.want, "!") {
				if err == nil || !strings.Contains(err.Error(), tc.want[1:]) {
					t.Fatalf("err %v, want %q", err, tc.want[1:])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range cfg.Rows {
				s := r.Key + "/" + r.Type + "/" + r.Encoding
				if r.Repeat {
					s += "/R"
				}
				if r.IsNamespace() {
					s += "/"
				}
				got = append(got, s)
			}
			if g := strings.Join(got, ";"); g != tc.want {
				t.Errorf("got %s\nwant %s", g, tc.want)
			}
		})
	}
}

func TestMfgValues(t *testing.T) {
	cfg, err := ParseMfgConfig("config.csv", strings.NewReader("ns,namespace,\nserial,data,string\nbatch,data,u16,REPEAT\nnote,data,string\n"))
	if err != nil {
		t.Fatal(err)
	}
	in := "id,serial,batch,extra,note\n1,A,42,x,\"multi\nline, \"\"q\"\"\"\n\n2,B,,y,n2\r\n3,C,7,z,n3"
	v, err := NewMfgValues(cfg, "values.csv", strings.NewReader(in), "serial")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line            int
		id, batch, note string
	}{{2, "A", "42", "multi\nline, \"q\""}, {5, "B", "42", "n2"}, {6, "C", "42", "n3"}}
	for _, w := range want {
		d, err := v.Next()
		if err != nil {
			t.Fatal(err)
		}
		if d.Line != w.line || d.ID != w.id || d.Values[2] != w.batch || d.Values[3] != w.note || d.Columns[3] != 5 {
			t.Errorf("got line %d id %q batch %q note %q cols %v, want %+v", d.Line, d.ID, d.Values[2], d.Values[3], d.Columns, w)
		}
	}
	if _, err := v.Next(); err != io.EOF {
		t.Errorf("after the last row: %v", err)
	}

	// A byte order mark is dropped.
	v, err = NewMfgValues(cfg, "values.csv", strings.NewReader("\xEF\xBB\xBFserial,batch,note\nA,1,n\n"), "serial")
	if err != nil {
		t.Fatalf("BOM: %v", err)
	}
	if d, err := v.Next(); err != nil || d.ID != "A" {
		t.Errorf("BOM: %v %v", d, err)
	}

	// Numbered devices, a short row, then the reader goes on.
	v, _ = NewMfgValues(cfg, "values.csv", strings.NewReader("serial,batch,note\nA,1\nB,2,n\n"), "")
	d, err := v.Next()
	if !errors.Is(err, ErrFieldCount) || d.Line != 2 || !strings.Contains(err.Error(), "values.csv:2:") {
		t.Errorf("short row: %v", err)
	}
	if d, err := v.Next(); err != nil || d.ID != "2" {
		t.Errorf("next row: %v %v", d, err)
	}

	for _, tc := range []struct{ hdr, fileid, want string }{
		{"serial,note\n", "", "key \"batch\" is not a column"},
		{"batch,serial,note\n", "", "before the column of an earlier config key"},
		{"serial,batch,note\n", "sn", "file id column \"sn\""},
	} {
		if _, err := NewMfgValues(cfg, "values.csv", strings.NewReader(tc.hdr), tc.fileid); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("header %q: %v, want %q", tc.hdr, err, tc.want)
		}
	}
}

// FuzzMfg feeds arbitrary config and values text through the mfg dialect and the generate
// rules: it must never panic. Seeds are in testdata/fuzz/FuzzMfg.
func FuzzMfg(f *testing.F) {
	f.Add("ns,namespace,\nserial,data,string\nb,data,u16,REPEAT\n", "serial,b\nA,1\nB,\n")
	f.Add("ns,namespace,\nk,data,hex2bin\nf,data,blob_sz_fill(8;0x00)\n", "k,f\n\"0a\nff\",\"x,y\"\n")
	f.Add("ns,namespace,\nsta.ssid,data,string\nap.ssid,data,string\nap.passwd,data,string\nap.authmode,data,u8\n", "sta.ssid,ap.ssid,ap.passwd,ap.authmode\na,b,c,3\n")
	f.Fuzz(func(t *testing.T, config, values string) {
		if len(config) > 1024 || len(values) > 2048 {
			return // larger inputs find nothing new and make the minimiser crawl
		}
		cfg, err := ParseMfgConfig("config.csv", strings.NewReader(config))
		if err != nil {
			return
		}
		v, err := NewMfgValues(cfg, "values.csv", strings.NewReader(values), "")
		if err != nil {
			return
		}
		p := NewParser(Options{ReadFile: func(string) ([]byte, error) { return []byte("42"), nil }})
		for range 20 {
			d, err := v.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				continue
			}
			p.Reset()
			for i, r := range cfg.Rows {
				typ := r.Type
				if r.IsGenerated() {
					typ = "data"
				}
				if p.AddRow("values.csv", d.Line, r.Key, typ, r.Encoding, d.Values[i]) != nil {
					break
				}
			}
		}
	})
}
