package cli

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionOf(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "50b8f4bae3a8302d6354183a158fb26c429f9edc"
	cases := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  buildVersion
	}{
		{"go install ...@v1.2.3", "", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			buildVersion{Version: "v1.2.3"}},
		{"go install ...@<commit>", "", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261202064916-50b8f4bae3a8"}},
			buildVersion{Version: "v0.0.0-20261202064916-50b8f4bae3a8", Commit: "50b8f4bae3a8"}},
		{"go build in a checkout", "", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.4-0.20261202064916-50b8f4bae3a8+dirty"},
			Settings: vcs("vcs", "git", "vcs.revision", rev, "vcs.time", "2026-12-02T06:49:16Z", "vcs.modified", "true")},
			buildVersion{Version: "v1.2.4-0.20261202064916-50b8f4bae3a8", Commit: rev, Modified: true, Date: "2026-12-02T06:49:16Z"}},
		{"go build without VCS", "", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			buildVersion{Version: "unknown (built without version information)"}},
		{"release build", "v1.3.0", "abc1234", "2026-12-24T00:00:00Z", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", rev, "vcs.time", "2026-12-02T06:49:16Z")},
			buildVersion{Version: "v1.3.0", Commit: "abc1234", Date: "2026-12-24T00:00:00Z"}},
		{"no build information", "", "", "", nil, buildVersion{Version: "unknown (built without version information)"}},
	}
	for _, c := range cases {
		got := versionOf(c.version, c.commit, c.date, c.bi)
		c.want.Go = got.Go
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
		if !strings.HasPrefix(got.Go, "go1.") || strings.Contains(got.String(), "dev\n") {
			t.Errorf("%s: %q", c.name, got.String())
		}
	}
}

func TestVersionFlag(t *testing.T) {
	code, out, _ := runIn(t, "", "--version")
	if code != 0 || !strings.HasPrefix(out, "nvskit version ") || !strings.Contains(out, "\ncommit: ") || !strings.Contains(out, "\ngo:     go") {
		t.Fatalf("%d %q", code, out)
	}
}
