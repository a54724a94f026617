package cli

import (
	"strings"
	"testing"
)

// Each entry of subcommands names the command its constructor builds, so that a run that
// builds only that command finds it.
func TestSubcommandNames(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range subcommands {
		c := sc.new(&Env{})
		if c.Name() != sc.name {
			t.Errorf("subcommands entry %q builds the command %q", sc.name, c.Name())
		}
		if seen[sc.name] {
			t.Errorf("%q twice", sc.name)
		}
		seen[sc.name] = true
	}
	// Every command of the tree comes from the table, once: a command added to the root any
	// other way would be built on every run (and twice, after a merge that re-adds a list).
	root := NewRoot(&Env{})
	n := map[string]int{}
	for _, c := range root.Commands() {
		n[c.Name()]++
	}
	for name, k := range n {
		if k > 1 {
			t.Errorf("the tree has %d commands named %q", k, name)
		}
		if !seen[name] && name != "help" && name != "completion" {
			t.Errorf("the command %q is not in the subcommands table of root.go: add it there, not with root.AddCommand", name)
		}
	}
	for name := range seen {
		if n[name] != 1 {
			t.Errorf("%q is in the table but not in the tree", name)
		}
	}
}

func TestCommandNamed(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"generate", "a.csv", "b.bin", "0x6000"}, "generate"},
		{[]string{"--help", "generate"}, "generate"},
		{[]string{"partitions", "show", "x.csv"}, "partitions"},
		{[]string{"help", "generate"}, ""},
		{[]string{"genrate"}, ""},
		{[]string{"__complete", "gen"}, ""},
		{[]string{"completion", "bash"}, ""},
		{[]string{"--version"}, noCommands},
		{[]string{"--version", "--help"}, ""},
		{nil, ""},
	}
	for _, c := range cases {
		if got := commandNamed(c.args); got != c.want {
			t.Errorf("%q: %q, want %q", c.args, got, c.want)
		}
	}
}

// Building one command changes nothing a user sees: help, misspellings, completion and
// --version work as with the whole tree.
func TestLazyRootBehaviour(t *testing.T) {
	code, out, _ := runIn(t, "", "--help")
	if code != 0 || !strings.Contains(out, "generate-key") || !strings.Contains(out, "partitions") {
		t.Errorf("--help: %d %s", code, out)
	}
	code, _, stderr := runIn(t, "", "genrate")
	if code != 2 || !strings.Contains(stderr, "generate") {
		t.Errorf("misspelt: %d %s", code, stderr)
	}
	code, out, _ = runIn(t, "", "completion", "bash")
	if code != 0 || !strings.Contains(out, "nvskit") {
		t.Errorf("completion: %d", code)
	}
	code, out, _ = runIn(t, "", "__complete", "gene")
	if code != 0 || !strings.Contains(out, "generate") {
		t.Errorf("__complete: %d %s", code, out)
	}
	code, out, _ = runIn(t, "", "generate", "--help")
	if code != 0 || !strings.Contains(out, "nvs_partition_gen.py") {
		t.Errorf("generate --help: %d %s", code, out)
	}
	code, out, _ = runIn(t, "", "help", "generate")
	if code != 0 || !strings.Contains(out, "nvs_partition_gen.py") {
		t.Errorf("help generate: %d %s", code, out)
	}
}
