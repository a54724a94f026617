package cli

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nvskit/nvskit/nvs"
)

// TestReadmeQuickStart runs the README's first command as on a fresh clone (in a copy of the
// files it reads): it must succeed and write its image under a folder that .gitignore ignores,
// not into the repository's root.
func TestReadmeQuickStart(t *testing.T) {
	readme := mustRead(t, filepath.Join("..", "..", "README.md"))
	var cmd string
	sc := bufio.NewScanner(strings.NewReader(string(readme)))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "go run ./cmd/nvskit ") {
			cmd = strings.TrimPrefix(l, "go run ./cmd/nvskit ")
			break
		}
	}
	if cmd == "" {
		t.Fatal("no `go run ./cmd/nvskit` command in the README")
	}
	args := strings.Fields(cmd)
	if args[0] != "generate" {
		t.Fatalf("the quick start runs %q; this test knows generate", args[0])
	}
	out := args[len(args)-2]
	dir, _ := filepath.Split(filepath.ToSlash(out))
	if dir == "" {
		t.Fatalf("the quick start writes %s into the repository's root", out)
	}
	ignored := false
	for _, l := range strings.Split(string(mustRead(t, filepath.Join("..", "..", ".gitignore"))), "\n") {
		l = strings.TrimSpace(l)
		ignored = ignored || l == "/"+dir || l == dir || l == "/"+strings.TrimSuffix(dir, "/")
	}
	if !ignored {
		t.Errorf("the quick start writes %s, but .gitignore does not ignore %s", out, dir)
	}
	work := t.TempDir()
	if err := os.CopyFS(filepath.Join(work, "examples", "certs"), os.DirFS(filepath.Join("..", "..", "examples", "certs"))); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runIn(t, work, args...); code != 0 {
		t.Fatalf("nvskit %s: exit %d: %s", cmd, code, stderr)
	}
	if err := nvs.Recognize(mustRead(t, filepath.Join(work, out))); err != nil {
		t.Error(err)
	}
}
