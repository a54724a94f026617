package nvscsv

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/nvs"
)

func TestCSVField(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"a,b", `"a,b"`},
		{`say "hi"`, `"say ""hi"""`},
		{"#hash", `"#hash"`},
		{" lead", `" lead"`},
		{"trail ", `"trail "`},
		{"line\nbreak", "\"line\nbreak\""},
	}
	for _, tc := range tests {
		if got := csvField(tc.in); got != tc.want {
			t.Errorf("csvField(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestExportRows(t *testing.T) {
	long := strings.Repeat("x", 100)
	items := []nvs.Item{
		nvs.Namespace("app"),
		nvs.Uint("app", "u", nvs.TypeU8, 7),
		nvs.Int("app", "i", nvs.TypeI32, -5),
		nvs.String("app", "s", "hello, world"),
		nvs.String("app", "long", long),
		nvs.Blob("app", "b", []byte{1, 2, 3}),
		nvs.Namespace("other"),
		nvs.Uint("app", "back", nvs.TypeU16, 1),
		{Namespace: "app", Key: "nonul", Type: nvs.TypeString, Data: []byte("x")},
		nvs.String("app", "bad/utf8", "\xff"),
	}
	rows, files, problems := Export(items, ExportOptions{})
	var b bytes.Buffer
	if err := WriteCSV(&b, rows, "comment"); err != nil {
		t.Fatal(err)
	}
	want := `# comment
key,type,encoding,value
app,namespace,,
u,data,u8,7
i,data,i32,-5
s,data,string,"hello, world"
long,file,string,app.long.txt
b,file,binary,app.b.bin
other,namespace,,
app,namespace,,
back,data,u16,1
`
	if b.String() != want {
		t.Errorf("CSV:\n%s\nwant:\n%s", b.String(), want)
	}
	if len(files) != 2 || string(files[0].Data) != long || !bytes.Equal(files[1].Data, []byte{1, 2, 3}) {
		t.Errorf("files: %+v", files)
	}
	if len(problems) != 2 || !strings.Contains(problems[0], "no terminating NUL") || !strings.Contains(problems[1], "not UTF-8") {
		t.Errorf("problems: %q", problems)
	}
}

func TestExportRoundTripsThroughParser(t *testing.T) {
	items := []nvs.Item{
		nvs.Namespace("nvs.net80211"),
		nvs.Blob("nvs.net80211", "sta.ssid", append(append([]byte{4, 0, 0, 0}, "home"...), make([]byte, 28)...)),
		nvs.Blob("nvs.net80211", "sta.apinfo", bytes.Repeat([]byte{0xFF}, 140)),
		nvs.Blob("nvs.net80211", "sta.pmk", make([]byte, 32)),
		nvs.Blob("nvs.net80211", "sta.apsw", []byte{0, 0}),
		nvs.String("nvs.net80211", "q", `"quoted", #not a comment`),
	}
	rows, files, problems := Export(items, ExportOptions{})
	if len(problems) != 0 || len(files) != 0 {
		t.Fatalf("problems %q, files %d", problems, len(files))
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, rows); err != nil {
		t.Fatal(err)
	}
	got, _, err := ParseFile("x.csv", &b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(items) {
		t.Fatalf("%d items back, want %d:\n%s", len(got), len(items), b.String())
	}
	for i := range items {
		g := got[i].Item
		if g.Namespace != items[i].Namespace || g.Key != items[i].Key || g.Type != items[i].Type || !bytes.Equal(g.Data, items[i].Data) {
			t.Errorf("item %d: got %+v, want %+v", i, g, items[i])
		}
	}
}
