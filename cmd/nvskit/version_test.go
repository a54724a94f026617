package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

const cliPkg = "github.com/nvskit/nvskit/internal/cli"

// goBuild builds ./cmd/nvskit of the module in dir into a temporary file with extra arguments.
func goBuild(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("go is not on PATH")
		}
		t.Skip("go is not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "nvskit")
	cmd := exec.Command(goTool, append(append([]string{"build", "-o", bin}, args...), "./cmd/nvskit")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", args, err, out)
	}
	return bin
}

func versionOutput(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	return string(out)
}

// The release build stamps version, commit and date with -ldflags; --version prints them.
func TestVersionStamped(t *testing.T) {
	bin := goBuild(t, "../..", nil, "-ldflags", "-X "+cliPkg+".Version=v9.8.7 -X "+cliPkg+".Commit=0123456789abcdef0123456789abcdef01234567 -X "+cliPkg+".Date=2026-01-02T03:04:05Z")
	got := versionOutput(t, bin)
	want := "nvskit version v9.8.7\ncommit: 0123456789abcdef0123456789abcdef01234567\ndate:   2026-01-02T03:04:05Z\ngo:     " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
}

// A plain "go build" in a git checkout takes the commit from the build information, and says
// when the checkout had uncommitted changes. The checkout is a fresh repository holding this
// module's sources, so the test also works in a git worktree (where go does not stamp).
func TestVersionFromGitCheckout(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("git is not on PATH")
		}
		t.Skip("git is not on PATH (apt-get install git)")
	}
	repo := t.TempDir()
	copyModule(t, repo)
	gitIn := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(git, args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_AUTHOR_DATE=2026-03-04T05:06:07Z", "GIT_COMMITTER_DATE=2026-03-04T05:06:07Z")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	gitIn("init", "-q")
	gitIn("add", "-A")
	gitIn("-c", "commit.gpgsign=false", "commit", "-q", "-m", "test")
	head := gitIn("rev-parse", "HEAD")

	vcs := []string{"GOFLAGS=-buildvcs=true"}
	got := versionOutput(t, goBuild(t, repo, vcs))
	// Go stamps a pseudo-version from the commit (v0.0.0-20260304050607-<12 hex>).
	if !regexp.MustCompile(`^nvskit version v0\.0\.0-20260304050607-`+head[:12]+`\n`).MatchString(got) ||
		!strings.Contains(got, "commit: "+head+"\n") || !strings.Contains(got, "date:   2026-03-04T05:06:07Z\n") ||
		!strings.Contains(got, "go:     "+runtime.Version()) || strings.Contains(got, "dev") {
		t.Errorf("clean checkout at %s:\n%s", head, got)
	}

	if err := os.WriteFile(filepath.Join(repo, "cmd", "nvskit", "extra.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got = versionOutput(t, goBuild(t, repo, vcs))
	if !strings.Contains(got, "commit: "+head+" (with uncommitted changes)\n") {
		t.Errorf("modified checkout at %s:\n%s", head, got)
	}

	// Without VCS information or a stamp, the version says it is unknown rather than "dev".
	got = versionOutput(t, goBuild(t, repo, []string{"GOFLAGS=-buildvcs=false"}))
	if !strings.HasPrefix(got, "nvskit version unknown") || !strings.Contains(got, "commit: unknown\n") {
		t.Errorf("no VCS information:\n%s", got)
	}
}

// copyModule copies go.mod, go.sum and the Go files of the module's packages that
// ./cmd/nvskit links into dst.
func copyModule(t *testing.T, dst string) {
	t.Helper()
	goTool, _ := exec.LookPath("go")
	cmd := exec.Command(goTool, "list", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{.Dir}}|{{join .GoFiles ","}},{{join .EmbedFiles ","}}{{end}}{{end}}`, "./cmd/nvskit")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		dir, names, _ := strings.Cut(line, "|")
		for _, n := range strings.Split(names, ",") {
			if n != "" {
				files = append(files, filepath.Join(dir, n))
			}
		}
	}
	for _, f := range files {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
