package clip

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	pem := "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
	for _, tc := range []struct {
		in, want string
	}{
		{"abc", `"abc"`},
		{"", `""`},
		{strings.Repeat("x", 40), `"` + strings.Repeat("x", 40) + `"`},
		{strings.Repeat("x", 10<<20), `"` + strings.Repeat("x", 40) + `"… (10485760 bytes)`},
		{strings.Repeat("é", 41), `"` + strings.Repeat("é", 40) + `"… (82 bytes)`},
		{pem, "(103 bytes of PEM or key material, not shown)"},
	} {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%.50q) = %.80q, want %.80q", tc.in, got, tc.want)
		}
	}
	if got := Quote(pem); strings.Contains(got, "MIGH") {
		t.Errorf("key material shown: %q", got)
	}
}
