package ledger

import (
	"encoding/json"
	"testing"
)

// FuzzParseMAC: MACs come from chips and from the command line; the parser never panics and
// what it returns parses to itself.
func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{"24:0a:c4:12:34:56", "24-0A-C4-12-34-56", "240ac4123456", "", "zz", "0000.0000.0000", "24:0a:c4:12:34:56:78:9a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMAC(s)
		if err != nil {
			return
		}
		if again, err := ParseMAC(m); err != nil || again != m {
			t.Fatalf("ParseMAC(%q) = %q, which parses to %q, %v", s, m, again, err)
		}
	})
}

// FuzzRowJSON: rows read back from a database never panic the decoder, and a decoded row
// encodes and decodes to itself.
func FuzzRowJSON(f *testing.F) {
	for _, s := range []string{`{"serial":"SN1","note":"a,\"b\""}`, `{}`, `[]`, `{"a":1}`, `{"a":"x"`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Row
		if err := json.Unmarshal(b, &r); err != nil {
			return
		}
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Row
		if err := json.Unmarshal(enc, &back); err != nil || len(back) != len(r) {
			t.Fatalf("%s: round trip %s: %v", b, enc, err)
		}
		for i := range r {
			if back[i] != r[i] {
				t.Fatalf("%s: field %d %v became %v", b, i, r[i], back[i])
			}
		}
	})
}
