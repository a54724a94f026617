package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version, Commit and Date are stamped at build time by the release build:
//
//	go build -ldflags "-X github.com/nvskit/nvskit/internal/cli.Version=v1.2.3
//	  -X github.com/nvskit/nvskit/internal/cli.Commit=0123abc -X github.com/nvskit/nvskit/internal/cli.Date=2026-01-02T03:04:05Z"
//
// Left empty, they come from the module's build information: the module version of a
// "go install ...@v1.2.3" build, the VCS revision of a "go build" in a git checkout.
var (
	Version string
	Commit  string
	Date    string
)

// buildVersion is what "nvskit --version" reports.
type buildVersion struct {
	Version  string // v1.2.3, a pseudo-version, or "unknown"
	Commit   string // full or short hash, "" when unknown
	Modified bool   // built from a checkout with uncommitted changes
	Date     string // commit or build time, "" when unknown
	Go       string // go1.26.8 linux/amd64
}

// versionOf combines the -ldflags stamps with the module build information (nil when the
// binary has none).
func versionOf(version, commit, date string, bi *debug.BuildInfo) buildVersion {
	v := buildVersion{Version: version, Commit: commit, Date: date, Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			v.Go = bi.GoVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
		}
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		var rev, vcsTime string
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if v.Commit == "" {
			if rev != "" {
				v.Commit, v.Modified = rev, modified
			} else {
				v.Commit = pseudoCommit(v.Version)
			}
		}
		if v.Date == "" {
			v.Date = vcsTime
		}
	}
	v.Version = strings.TrimSuffix(v.Version, "+dirty")
	if v.Version == "" {
		v.Version = "unknown (built without version information)"
	}
	return v
}

// pseudoCommit returns the commit hash a pseudo-version (v0.0.0-20260102030405-0123456789ab)
// carries, or "".
func pseudoCommit(version string) string {
	v := strings.TrimSuffix(version, "+dirty")
	i := strings.LastIndexByte(v, '-')
	if i < 0 || len(v)-i-1 != 12 || strings.Count(v, "-") < 2 {
		return ""
	}
	for _, c := range v[i+1:] {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return ""
		}
	}
	return v[i+1:]
}

// currentVersion is this binary's version.
func currentVersion() buildVersion {
	bi, _ := debug.ReadBuildInfo()
	return versionOf(Version, Commit, Date, bi)
}

// String is the text of "nvskit --version".
func (v buildVersion) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nvskit version %s\n", v.Version)
	commit := v.Commit
	if commit == "" {
		commit = "unknown"
	}
	if v.Modified {
		commit += " (with uncommitted changes)"
	}
	fmt.Fprintf(&b, "commit: %s\n", commit)
	if v.Date != "" {
		fmt.Fprintf(&b, "date:   %s\n", v.Date)
	}
	fmt.Fprintf(&b, "go:     %s\n", v.Go)
	return b.String()
}
