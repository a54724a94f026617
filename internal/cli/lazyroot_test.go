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
	if got := len(NewRoot(&Env{}).Commands()); got < len(subcommands) {
		t.Errorf("the whole tree has %d commands, want at least %d", got, len(subcommands))
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
