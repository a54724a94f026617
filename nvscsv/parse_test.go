package nvscsv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/nvs"
)

func TestSplitRecords(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // records as line:field|field;...
	}{
		{"plain", "a,b,c\nd,e\n", "1:a|b|c;2:d|e"},
		{"crlf and cr", "a,b\r\nc,d\re,f", "1:a|b;2:c|d;3:e|f"},
		{"bom", "\ufeffkey,type\n", "1:key|type"},
		{"comments and blank lines", "# c\na,b\n\n   \n#x,y\nc,d\n", "2:a|b;6:c|d"},
		{"quoted comma and quote", `k,"a,b ""q"" c"` + "\n", `1:k|a,b "q" c`},
		{"quoted newline", "k,\"line1\nline2\"\nz,1\n", "1:k|line1\nline2;3:z|1"},
		{"comment line inside quotes is dropped", "k,\"a\n#b\nc\"\n", "1:k|a\nc"},
		{"blank line inside quotes is kept", "k,\"a\n\nb\"\nz,1\n", "1:k|a\n\nb;4:z|1"},
		{"cr inside quotes", "k,\"a\rb\"\r", "1:k|a\nb"},
		{"text after closing quote", `k,"ab"cd,e` + "\n", "1:k|abcd|e"},
		{"quote inside unquoted field", `k,a"b` + "\n", `1:k|a"b`},
		{"empty fields", "a,,\n", "1:a||"},
		{"no final newline", "a,b", "1:a|b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := splitRecords([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, r := range recs {
				parts = append(parts, fmt.Sprintf("%d:%s", r.line, strings.Join(r.fields, "|")))
			}
			if got := strings.Join(parts, ";"); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := splitRecords([]byte("k,\"open\n")); err == nil {
		t.Error("unterminated quote accepted")
	}
}

func TestParsePyInt(t *testing.T) {
	ok := map[string]int64{"7": 7, " 7 ": 7, "+12": 12, "-3": -3, "1_000": 1000, "007": 7, "\t42\n": 42}
	for in, want := range ok {
		n, err := parsePyInt(in)
		if err != nil || n.Int64() != want {
			t.Errorf("parsePyInt(%q) = %v, %v; want %d", in, n, err, want)
		}
	}
	for _, in := range []string{"", "  ", "0x10", "1__0", "_1", "1_", "1.5", "--1", "+", "1e3"} {
		if _, err := parsePyInt(in); err == nil {
			t.Errorf("parsePyInt(%q) accepted", in)
		}
	}
}

func TestDecodeBase64(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"YWJj", "abc", true},
		{" YW Jj ", "abc", true},
		{"YWI=", "ab", true},
		{"YQ==", "a", true},
		{"YQ==YWJj", "a", true}, // stops at the padding
		{"Y*W!Jj", "abc", true},
		{"YWJ", "", false},
		{"Y", "", false},
		{"", "", true},
		{"YWJjé", "", false},
	}
	for _, tc := range tests {
		got, err := decodeBase64([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && string(got) != tc.want) {
			t.Errorf("decodeBase64(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestDecodeHex(t *testing.T) {
	if b, err := decodeHex("  abCD01 \n"); err != nil || !bytes.Equal(b, []byte{0xab, 0xcd, 0x01}) {
		t.Errorf("got % x, %v", b, err)
	}
	for _, in := range []string{"abc", "zz", "a b"} {
		if _, err := decodeHex(in); err == nil {
			t.Errorf("decodeHex(%q) accepted", in)
		}
	}
}

func parse(t *testing.T, csv string, files map[string]string) ([]Row, []Notice, error) {
	t.Helper()
	return ParseFile("nvs.csv", strings.NewReader(csv), Options{ReadFile: func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	}})
}

func TestErrors(t *testing.T) {
	head := "key,type,encoding,value\nns,namespace,,\n"
	tests := []struct {
		name, csv string
		want      []string // substrings of the error
		is        error
	}{
		{"key too long", "device_certificate,data,u8,1\n", []string{"nvs.csv:3:", `key "device_certificate" is 18 characters`, "at most 15"}, nvs.ErrKeyTooLong},
		{"unknown type", "k,dta,u8,1\n", []string{"nvs.csv:3:", `unknown type "dta"`, "namespace, data or file"}, nil},
		{"unknown encoding", "k,data,float,1\n", []string{`unknown encoding "float"`, "hex2bin"}, nil},
		{"range", "k,data,u16,70000\n", []string{"70000 is out of range for u16 (0..65535)"}, nvs.ErrValueRange},
		{"bad hex", "k,data,hex2bin,xyz0\n", []string{"not a hex digit"}, nil},
		{"bad base64", "k,data,base64,YWJ\n", []string{"padding"}, nil},
		{"missing file", "k,file,binary,nope.bin\n", []string{`cannot read file "nope.bin"`}, os.ErrNotExist},
		{"string too long", "k,data,string," + strings.Repeat("x", 4000) + "\n", []string{"4001 bytes", "binary encoding"}, nvs.ErrValueTooLong},
		{"fill too long", "k,data,blob_fill(2;0x00),abc\n", []string{"longer than the 2"}, nil},
		{"bad fill", "k,data,blob_fill(2:0x00),a\n", []string{"blob_fill(N;0xPP)"}, nil},
		{"long row", "k,data,string,a,b\n", []string{"5 fields", "double quotes"}, nil},
		{"missing encoding", "k,data\n", []string{"encoding is empty"}, nil},
		{"empty key", ",data,u8,1\n", []string{"key is empty"}, nil},
		{"file utf8", "k,file,string,bin\n", []string{"not UTF-8"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parse(t, head+tc.csv, map[string]string{"bin": "\xff\xfe"})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not contain %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "nvs.csv" {
				t.Errorf("not an *Error naming the file: %#v", err)
			}
		})
	}
	if _, _, err := parse(t, "key,type\n", nil); err == nil || !strings.Contains(err.Error(), "no encoding, value column") {
		t.Errorf("bad header: %v", err)
	}
	many := "key,type,encoding,value\n"
	for i := 0; i <= nvs.MaxNamespaces; i++ {
		many += fmt.Sprintf("n%d,namespace,,\n", i)
	}
	if _, _, err := parse(t, many, nil); !errors.Is(err, nvs.ErrTooManyNamespaces) || !strings.Contains(err.Error(), "nvs.csv:256:") {
		t.Errorf("255 namespaces: %v", err)
	}
}

func TestValues(t *testing.T) {
	csv := "key,type,encoding,value\nns,namespace,,\n" +
		"s,data,string,hi\n" +
		"S,data,STRING,hi\n" +
		"f,file,string,cert\n" +
		"b,file,binary,cert\n" +
		"i,file,i32,num\n" +
		"fill,data,blob_fill(4;0xAA),ab\n" +
		"sz,data,blob_sz_fill(3;0x00),ab\n" +
		"neg,data,i64,-9223372036854775808\n"
	rows, _, err := parse(t, csv, map[string]string{"cert": "-----BEGIN\r\n", "num": " -5\n"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]nvs.Item{}
	for _, r := range rows {
		got[r.Item.Key] = r.Item
	}
	check := func(k string, typ nvs.Type, data string) {
		it := got[k]
		if it.Type != typ || string(it.Data) != data {
			t.Errorf("%s: %s %q, want %s %q", k, it.Type, it.Data, typ, data)
		}
	}
	check("s", nvs.TypeString, "hi\x00")
	check("S", nvs.TypeString, "hi\x00")
	check("f", nvs.TypeString, "-----BEGIN\r\n\x00")
	check("b", nvs.TypeBlob, "-----BEGIN\r\n")
	check("fill", nvs.TypeBlob, "ab\xaa\xaa")
	check("sz", nvs.TypeBlob, "\x02\x00\x00\x00ab\x00")
	if it := got["i"]; it.Type != nvs.TypeI32 || int64(it.Value) != -5 {
		t.Errorf("i: %v", it)
	}
	if it := got["neg"]; int64(it.Value) != -1<<63 {
		t.Errorf("neg: %d", int64(it.Value))
	}
}

func TestNotices(t *testing.T) {
	csv := "key,type,encoding,value\na,namespace,,\nb,namespace,,\na,namespace,,\nx,data,u8,1\nsta.ssid,data,string,net\n"
	rows, notices, err := parse(t, csv, nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range rows {
		keys = append(keys, r.Item.Namespace+"/"+r.Item.Key)
	}
	if got := strings.Join(keys, " "); got != "a/ b/ a/ a/x a/sta.ssid a/sta.apinfo a/sta.pmk a/sta.apsw" {
		t.Errorf("items: %s", got)
	}
	if len(notices) != 2 || !strings.Contains(notices[0].String(), `nvs.csv:4: namespace "a" selected again`) ||
		!strings.Contains(notices[1].Msg, "sta.apinfo") {
		t.Errorf("notices: %v", notices)
	}
}
