package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Package initialisation runs for every linked package on every start of nvskit, whatever the
// command, before main. It must stay cheap (see docs/performance.md): anything that compiles,
// parses, reads or builds a table belongs in the function that needs it, or behind
// sync.OnceValue. This test reads the repository's non-test Go files and fails on:
//   - a package-level variable initialised by a call listed in heavyInit (regexp.MustCompile,
//     template.Must, x509 parsing, ...);
//   - the same calls in a func init();
//   - a package-level map literal of more than maxInitMap entries (maps are built at start-up,
//     entry by entry; a slice or array literal is laid out by the linker for free);
//   - a func init() in a file not in allowedInit.
// Calls inside function literals do not count: they run when called, not at start-up.

// heavyInit lists package.Function calls too costly for start-up.
var heavyInit = map[string]bool{
	"regexp.MustCompile": true, "regexp.Compile": true, "regexp.MustCompilePOSIX": true, "regexp.CompilePOSIX": true,
	"template.Must": true, "template.New": true, "template.ParseFiles": true, "template.ParseFS": true, "template.ParseGlob": true,
	"x509.ParseCertificate": true, "x509.ParseCertificates": true, "x509.SystemCertPool": true, "x509.ParsePKCS8PrivateKey": true,
	"x509.ParsePKCS1PrivateKey": true, "x509.ParseECPrivateKey": true, "x509.ParsePKIXPublicKey": true, "pem.Decode": true,
	"crc32.MakeTable": true, "crc64.MakeTable": true,
	"json.Unmarshal": true, "xml.Unmarshal": true, "gob.NewDecoder": true,
	"os.ReadFile": true, "os.Open": true, "os.ReadDir": true, "exec.LookPath": true, "exec.Command": true,
	"rsa.GenerateKey": true, "ecdsa.GenerateKey": true, "rand.Read": true,
	"strings.NewReplacer": true,
}

const maxInitMap = 64

// allowedInit are the func init()s there are, each cheap and said why.
var allowedInit = map[string]string{
	"esploader/chip.go":           "fills in the SPI register offsets shared by every chip after the ESP32 (a loop over 10 entries)",
	"internal/fsutil/sys_unix.go": "reads the umask (two umask system calls) before any goroutine can create a file, which a later set-and-restore would race with",
}

func TestNoHeavyPackageInit(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "node_modules" || name == "dist" || name == "vendor" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		checked++
		for _, p := range initProblems(t, path, rel) {
			t.Error(p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d Go files found under %s", checked, root)
	}
}

// initProblems returns what in the file at path runs costly code at package initialisation.
func initProblems(t *testing.T, path, rel string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	var out []string
	report := func(n ast.Node, format string, args ...any) {
		pos := fset.Position(n.Pos())
		out = append(out, fmt.Sprintf("%s:%d: ", rel, pos.Line)+fmt.Sprintf(format, args...))
	}
	// heavyCalls reports heavy calls in n, outside function literals.
	heavyCalls := func(n ast.Node, where string) {
		ast.Inspect(n, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				return false
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
					if pkg, ok := sel.X.(*ast.Ident); ok && heavyInit[pkg.Name+"."+sel.Sel.Name] {
						report(n, "%s.%s %s runs at every start of nvskit: call it where it is needed (or wrap it in sync.OnceValue)", pkg.Name, sel.Sel.Name, where)
					}
				}
			case *ast.CompositeLit:
				if _, ok := n.Type.(*ast.MapType); ok && len(n.Elts) > maxInitMap {
					report(n, "a map literal of %d entries %s is built at every start of nvskit: use a sorted slice or a switch, or build it on first use", len(n.Elts), where)
				}
			}
			return true
		})
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.GenDecl:
			if d.Tok != token.VAR {
				continue
			}
			for _, s := range d.Specs {
				for _, v := range s.(*ast.ValueSpec).Values {
					heavyCalls(v, "in a package-level variable")
				}
			}
		case *ast.FuncDecl:
			if d.Recv != nil || d.Name.Name != "init" {
				continue
			}
			if _, ok := allowedInit[rel]; !ok {
				report(d, "func init() runs at every start of nvskit, whatever the command: do the work where it is needed (if it must stay, add the file to allowedInit in cmd/nvskit/initcost_test.go, saying why it is cheap)")
			}
			heavyCalls(d.Body, "in func init()")
		}
	}
	return out
}

// The rule catches what it is meant to.
func TestInitProblemsCatches(t *testing.T) {
	dir := t.TempDir()
	src := `package x

import ("regexp"; "sync"; "text/template")

var re = regexp.MustCompile("a+")
var ok = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile("b+") })
var tm = template.Must(template.New("t").Parse("x"))
var small = map[int]int{1: 1}

func init() { _ = regexp.MustCompile("c") }
`
	var big strings.Builder
	big.WriteString("var big = map[int]int{")
	for i := 0; i <= maxInitMap; i++ {
		big.WriteString(strconv.Itoa(i) + ": 0, ")
	}
	big.WriteString("}\n")
	path := filepath.Join(dir, "x.go")
	if err := os.WriteFile(path, []byte(src+big.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(initProblems(t, path, "x/x.go"), "\n")
	for _, want := range []string{
		"x/x.go:5: regexp.MustCompile in a package-level variable",
		"x/x.go:7: template.Must in a package-level variable",
		"x/x.go:7: template.New in a package-level variable",
		"x/x.go:10: func init() runs at every start",
		"x/x.go:10: regexp.MustCompile in func init()",
		"x/x.go:11: a map literal of 65 entries",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, ":6:") || strings.Contains(got, ":8:") {
		t.Errorf("flagged a lazy or small initialiser:\n%s", got)
	}
}

// No template execution in the binary: cobra's default help, usage and version output are plain
// Go, and a Set*Template call (or any template execution reachable from main) makes the linker
// keep every exported method of every type (templates call methods by name), which added
// 2 MB to the binary and start-up time to every run.
func TestNoTemplateLinked(t *testing.T) {
	bin := goBuild(t, "../..", nil)
	goTool, _ := exec.LookPath("go")
	out, err := exec.Command(goTool, "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		// text/template's package variables stay (cobra refers to them); its executor must not.
		if strings.Contains(line, " text/template.(*state).") {
			t.Fatalf("text/template's executor is linked into nvskit (%s): render help and version text with fmt, not a template", strings.TrimSpace(line))
		}
	}
}
