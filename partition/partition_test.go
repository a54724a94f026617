package partition

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestPyInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"00", 0, true}, {"0_0", 0, true}, {"4096", 4096, true}, {"4_096", 4096, true},
		{"0x1000", 0x1000, true}, {"0X_10", 16, true}, {"0o17", 15, true}, {"0b101", 5, true},
		{"-0x10", -16, true}, {"+5", 5, true}, {" 5 ", 5, true}, {"\t0x9000\u3000", 0x9000, true},
		{"09000", 0, false}, {"024", 0, false}, {"0_1", 0, false}, {"1__0", 0, false}, {"_1", 0, false},
		{"1_", 0, false}, {"0x", 0, false}, {"0x__1", 0, false}, {"", 0, false}, {"- 5", 0, false},
		{"1.5", 0, false}, {"0b2", 0, false}, {"0o8", 0, false}, {"abc", 0, false}, {"\u0665", 0, false},
	}
	for _, tt := range tests {
		got, ok, _ := pyInt(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("pyInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok, big := pyInt("0x" + strings.Repeat("f", 40)); ok || !big {
		t.Errorf("huge number: ok=%v big=%v", ok, big)
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in      string
		kw      keywords
		want    int64
		wantErr error
	}{
		{"1M", nil, 1 << 20, nil}, {"24k", nil, 24 << 10, nil}, {"0x10K", nil, 16 << 10, nil},
		{"0x4_00K", nil, 1 << 20, nil}, {"1kk", nil, 1 << 20, nil}, {"5 K", nil, 5 << 10, nil},
		{"-0x20000", nil, -0x20000, nil}, {"0kkkkkk", nil, 0, nil},
		{"data", typeKeywords, 1, nil}, {"DATA", typeKeywords, 1, nil}, {"appK", typeKeywords, 0, nil},
		{"1.5M", nil, 0, ErrSyntax}, {"09000", nil, 0, ErrSyntax}, {"dat", typeKeywords, 0, ErrUnknownType},
		{"1" + strings.Repeat("k", 20), nil, 0, ErrRange}, {"0x10000000000000", nil, 0, ErrRange},
		{"nvs", nil, 0, ErrSyntax},
	}
	for _, tt := range tests {
		got, err := parseNumber(tt.in, tt.kw, "size", 7)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && got != tt.want) {
			t.Errorf("parseNumber(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "line 7: ") {
			t.Errorf("parseNumber(%q): error %q does not name the line", tt.in, err)
		}
	}
}

func TestSplitLines(t *testing.T) {
	got := splitLines("a\nb\r\nc\rd\x0be\x0cf\x1cg\u0085h\u2028i\u2029j\n\nk\n")
	want := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "", "k"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
	if got := splitLines(""); len(got) != 0 {
		t.Errorf("empty: %q", got)
	}
}

func TestExpandVars(t *testing.T) {
	env := map[string]string{"A": "x", "B_1": "$A", "W": "a b"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct{ in, want string }{
		{"$A,data", "x,data"}, {"${A}y", "xy"}, {"$Ay", "$Ay"}, {"$B_1", "$A"}, {"$", "$"},
		{"${nope}", "${nope}"}, {"${A", "${A"}, {"a$W", "aa b"}, {"$1", "$1"}, {"$$A", "$x"},
	}
	for _, tt := range tests {
		if got := expandVars(tt.in, lookup); got != tt.want {
			t.Errorf("expandVars(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeText(t *testing.T) {
	tests := []struct {
		in      []byte
		want    string
		wantErr bool
	}{
		{[]byte("abc"), "abc", false},
		{[]byte("\xef\xbb\xbfabc"), "abc", false},
		{[]byte("\xff\xfea\x00\xe9\x00"), "a\u00e9", false},
		{[]byte("\xfe\xff\x00a\xd8\x3d\xde\x00"), "a\U0001F600", false},
		{[]byte("\x00\x00\xfe\xff\x00\x00\x00a"), "a", false},
		{[]byte("a\xffb"), "", true},
		{[]byte("\xff\xfea"), "", true},
		{[]byte("\xff\xfe\x00\xd8"), "", true},
	}
	for _, tt := range tests {
		got, err := decodeText(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("decodeText(%q) = %q, %v", tt.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrEncoding) {
			t.Errorf("decodeText(%q): %v is not ErrEncoding", tt.in, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, csv string
		opts      Options
		kind      error
		want      string
	}{
		{"overlap", "a,data,nvs,0x9000,0x6000\nb,data,nvs,0xe000,0x1000\n", Options{}, ErrOverlap, "line 2: partitions overlap"},
		{"below table", "a,data,nvs,0x8000,0x6000\n", Options{}, ErrOverlap, "use a free offset 0x9000"},
		{"misaligned", "a,data,nvs,0x9800,0x6000\n", Options{}, ErrMisaligned, "the nearest valid offsets are 0x9000 and 0xa000"},
		{"misaligned app", "a,data,nvs,0x9000,0x6000\nf,app,factory,0x18000,1M\n", Options{}, ErrMisaligned, "the nearest valid offsets are 0x10000 and 0x20000"},
		{"misaligned one side", "a,data,fat,0x9000,0x1800\nb,data,fat,0xa800,0x1000\n", Options{}, ErrMisaligned, "the nearest valid offset is 0xb000"},
		{"app size", "f,app,factory,,0x100800\n", Options{}, ErrMisaligned, "use 0x101000"},
		{"duplicate", "a,data,nvs,,0x6000\na,data,fat,,4K\n", Options{}, ErrDuplicateName, "line 2: partition \"a\": the name is already used by the partition at line 1"},
		{"collision", "storage_partition_a,data,fat,,4K\nstorage_partition_b,data,fat,,4K\n", Options{}, ErrDuplicateName, "both become \"storage_partitio\""},
		{"unknown subtype", "a,data,spifs,,4K\n", Options{}, ErrUnknownSubtype, "Known keywords: ota, phy, nvs, coredump, nvs_keys, efuse, undefined, esphttpd, fat, spiffs, littlefs, tee_ota"},
		{"custom subtype name", "a,0x40,nvs,,4K\n", Options{}, ErrUnknownSubtype, "custom types have no subtype names"},
		{"type range", "a,256,0,,4K\n", Options{}, ErrRange, "outside 0..255"},
		{"flag", "a,data,nvs,,0x6000,encrypted # x\n", Options{}, ErrUnknownFlag, "line 1: unknown flag 'encrypted # x'"},
		{"variable", "\n$UNDEFINED_X,data,nvs,,4K\n", Options{}, ErrUnknownVariable, "line 2: unknown variable 'UNDEFINED_X'"},
		{"negative size", "a,data,nvs,0x10000,-0x9000\n", Options{}, ErrRange, "must be above the offset"},
		{"otadata", "o,data,ota,,0x1000\n", Options{}, ErrInvalid, "must have size = 0x2000"},
		{"nvs small", "n,data,nvs,,0x2000\n", Options{}, ErrInvalid, "must be flagged as 'readonly'"},
		{"too many", strings.Repeat("x,data,fat,,4K\n", 0) + manyRows(95), Options{}, ErrTooManyEntries, "at most 94 partitions fit"},
		{"flash", "a,data,fat,,4M\n", Options{FlashSize: 4 << 20}, ErrFlashSize, "beyond it: a"},
		{"bootloader", "b,bootloader,primary,,\n", Options{}, ErrOptions, "--primary-bootloader-offset"},
		{"bootloader above", "a,data,fat,,4K\n", Options{PrimaryBootloaderOffset: new(uint32(0x8000))}, ErrOptions, "must be below the partition table"},
		{"extra dup", "a,data,fat,,4K\n", Options{ExtraSubtypes: []ExtraSubtype{{TypeData, "mine", 2}}}, ErrOptions, "already \"nvs\""},
		{"nul", "a\x00b,data,fat,,4K\n", Options{}, ErrSyntax, "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := Parse([]byte(tt.csv), tt.opts)
			if err == nil && tt.kind == ErrTooManyEntries {
				_, err = tab.MarshalBinary()
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("error %v, want %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func manyRows(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("p")
		b.WriteString(strings.Repeat("x", i%10))
		b.WriteString(string(rune('a'+i/26%26)) + string(rune('a'+i%26)))
		b.WriteString(",data,fat,,4K\n")
	}
	return b.String()
}

func TestBinaryErrors(t *testing.T) {
	good, err := Parse([]byte("nvs,data,nvs,,0x6000\nfactory,app,factory,,1M\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := good.MarshalBinary()
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), bin...)) }
	tests := []struct {
		name string
		data []byte
		opts Options
		kind error
		want string
	}{
		{"bad md5", mod(func(b []byte) []byte { b[0x50]++; return b }), Options{}, ErrBadMD5, "entry 2 (bytes 0x40-0x5f): MD5"},
		{"bad magic", mod(func(b []byte) []byte { b[0x20] = 0x55; return b }), Options{}, ErrBadMagic, "entry 1"},
		{"no end", bin[:0x60], Options{}, ErrNoEndMarker, "no end-of-table marker"},
		{"partial", bin[:0x50], Options{}, ErrTruncated, "multiple of 32"},
		{"md5 disabled", bin, Options{DisableMD5: true}, ErrBadMagic, "--disable-md5sum"},
		{"offset", bin, Options{Offset: 0x10000}, ErrOverlap, "below 0x11000"},
		{"label", mod(func(b []byte) []byte { b[12] = 0xC3; return b }), Options{}, ErrEncoding, "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.data, tt.opts)
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %v containing %q", err, tt.kind, tt.want)
			}
		})
	}
	// Unknown flag bits are dropped with a warning.
	b := mod(func(b []byte) []byte { b[31] = 0x80; return b[:0x40] })
	b = append(b, bytes.Repeat([]byte{0xFF}, 32)...)
	var warned []string
	tab, err := Parse(b, Options{Warn: func(m string) { warned = append(warned, m) }})
	if err != nil || tab.Partitions[0].Flags != 0 || len(warned) != 1 || !strings.Contains(warned[0], "0x80000000") {
		t.Errorf("unknown flags: %v %+v %q", err, tab, warned)
	}
}

func TestFind(t *testing.T) {
	csv := "nvs,data,nvs,,0x6000\notadata,data,ota,,0x2000\na_very_long_partition_name,data,fat,,4K\nota_0,app,ota_0,,1M\nota_1,app,ota_1,,1M\n"
	tab, err := Parse([]byte(csv), Options{})
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := tab.MarshalBinary()
	fromBin, err := Parse(bin, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range []*Table{tab, fromBin} {
		p, ok := tb.Find("nvs")
		if !ok || p.Offset != 0x9000 || p.Size != 0x6000 {
			t.Errorf("Find(nvs) = %+v, %v", p, ok)
		}
		if p, ok := tb.Find("a_very_long_partition_name"); !ok || p.Offset != 0x11000 {
			t.Errorf("long name: %+v, %v", p, ok)
		}
		if p, ok := tb.FindType(TypeApp, SubtypeOTA0+1); !ok || p.Name != "ota_1" {
			t.Errorf("FindType: %+v", p)
		}
		if ps := tb.All(TypeApp, SubtypeOTA0); len(ps) != 1 || ps[0].Offset != 0x20000 {
			t.Errorf("All: %+v", ps)
		}
		if _, err := tb.Lookup("nv"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "nvs, otadata") {
			t.Errorf("Lookup: %v", err)
		}
	}
	if _, ok := tab.Find("a_very_long_partition_XXX"); ok {
		t.Error("a different long name matched in the CSV table")
	}
	if fromBin.Partitions[2].Name != "a_very_long_part" {
		t.Errorf("label %q", fromBin.Partitions[2].Name)
	}
}

func TestReadFlash(t *testing.T) {
	tab, _ := Parse([]byte("nvs,data,nvs,,0x6000\n"), Options{Offset: 0x10000})
	bin, _ := tab.EncodeBinary(Options{})
	dump := bytes.Repeat([]byte{0xFF}, 0x20000)
	copy(dump[0x10000:], bin)
	got, err := ReadFlash(dump, 0x10000, Options{})
	if err != nil || got.Offset != 0x10000 || got.Partitions[0].Offset != 0x11000 || !got.MD5 {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := ReadFlash(dump, 0x8000, Options{}); !errors.Is(err, ErrBadMagic) {
		t.Errorf("wrong offset: %v", err)
	}
	if _, err := ReadFlash(dump[:0x100], 0x8000, Options{}); !errors.Is(err, ErrTruncated) {
		t.Errorf("short dump: %v", err)
	}
}

func TestExtraSubtypes(t *testing.T) {
	tests := []struct {
		in      string
		want    ExtraSubtype
		wantErr bool
	}{
		{"data, my_store, 40", ExtraSubtype{TypeData, "my_store", 0x40}, false},
		{"app,my_app,0x21", ExtraSubtype{TypeApp, "my_app", 0x21}, false},
		{"data, x", ExtraSubtype{}, true},
		{"dat, x, 40", ExtraSubtype{}, true},
		{"data, x, 100", ExtraSubtype{}, true},
		{"data, x, zz", ExtraSubtype{}, true},
	}
	for _, tt := range tests {
		got, err := ParseExtraSubtype(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseExtraSubtype(%q) = %+v, %v", tt.in, got, err)
		}
	}
	// An extra subtype can rename a value, and prints by its name.
	opts := Options{ExtraSubtypes: []ExtraSubtype{{TypeData, "my_store", 0x40}, {TypeData, "nvs", 0x50}}}
	tab, err := Parse([]byte("a,data,my_store,,4K\nb,data,nvs,,0x6000\nc,data,2,,0x6000\n"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Partitions[0].SubType != 0x40 || tab.Partitions[1].SubType != 0x50 {
		t.Errorf("%+v", tab.Partitions)
	}
	csv, _ := tab.MarshalCSV(opts)
	if !strings.Contains(string(csv), "a,data,my_store,") || !strings.Contains(string(csv), "b,data,nvs,") || !strings.Contains(string(csv), "c,data,2,") {
		t.Errorf("%s", csv)
	}
}

func TestLint(t *testing.T) {
	csv := "nvs,data,nvs,,0x6000,encrypted\nkeys,data,nvs_keys,,0x1000\nro,data,nvs,,0x1000,readonly\nbig,data,nvs,,1M\nodd,data,nvs,,0x3800\n"
	tab, err := ParseCSV(strings.NewReader(csv), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range tab.Lint(LintOptions{}) {
		got = append(got, f.Severity.String()+" "+f.Code+" "+f.Partition)
	}
	want := []string{"error nvs-encrypted nvs", "warning nvs-keys-not-encrypted keys", "note nvs-read-only ro",
		"warning nvs-large big", "warning nvs-size-unaligned odd"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
}

func TestCSVRoundTrip(t *testing.T) {
	csv := "nvs,data,nvs,0x9000,24K,\nfs,data,spiffs,0xf000,0x1234,encrypted:readonly\nz,0x40,0xff,0x20000,0,readonly\n"
	tab, err := Parse([]byte(csv), Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := tab.MarshalCSV(Options{})
	want := "# ESP-IDF Partition Table\n# Name, Type, SubType, Offset, Size, Flags\n" +
		"nvs,data,nvs,0x9000,24K,\nfs,data,spiffs,0xf000,0x1234,encrypted:readonly\nz,64,255,0x20000,0M,readonly\n"
	if string(out) != want {
		t.Errorf("got\n%s", out)
	}
	again, err := Parse(out, Options{})
	if err != nil || !samePartitionsIgnoringLines(tab, again) {
		t.Errorf("round trip: %v", err)
	}
}

func samePartitionsIgnoringLines(a, b *Table) bool {
	if len(a.Partitions) != len(b.Partitions) {
		return false
	}
	for i := range a.Partitions {
		p, q := a.Partitions[i], b.Partitions[i]
		p.Line, q.Line = 0, 0
		if p != q {
			return false
		}
	}
	return true
}
