package main

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The targets .ci/run cross-compiles are the release's: the builds of .goreleaser.yaml (goos ×
// goarch, arm as goarm 7, minus its ignore list).
func TestReleaseMatrixMatchesCI(t *testing.T) {
	cfg, err := os.ReadFile("../../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	list := func(key string) []string {
		m := regexp.MustCompile(`(?m)^    ` + key + `: \[([^\]]*)\]`).FindSubmatch(cfg)
		if m == nil {
			t.Fatalf(".goreleaser.yaml: no %s: [...] line", key)
		}
		var out []string
		for _, f := range strings.Split(string(m[1]), ",") {
			out = append(out, strings.Trim(strings.TrimSpace(f), `"`))
		}
		return out
	}
	ignored := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^      - goos: (\w+)\n        goarch: (\w+)$`).FindAllSubmatch(cfg, -1) {
		ignored[string(m[1])+"/"+string(m[2])] = true
	}
	goarm := list("goarm")
	var want []string
	for _, goos := range list("goos") {
		for _, goarch := range list("goarch") {
			if ignored[goos+"/"+goarch] {
				continue
			}
			if goarch == "arm" {
				for _, v := range goarm {
					want = append(want, goos+"/arm/"+v)
				}
				continue
			}
			want = append(want, goos+"/"+goarch)
		}
	}
	run, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^release_matrix="([^"]*)"`).FindSubmatch(run)
	if m == nil {
		t.Fatal(`.ci/run: no release_matrix="..." line`)
	}
	got := strings.Fields(string(m[1]))
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf(".ci/run cross-compiles %v; .goreleaser.yaml builds %v", got, want)
	}
	if len(want) != 7 {
		t.Errorf("the release has %d targets, want the 7 of docs/releasing.md: %v", len(want), want)
	}
}
