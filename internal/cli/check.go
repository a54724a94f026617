package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/nvs"
)

// CheckSchema names the version of check's --json document (docs/inspect-json.md).
const CheckSchema = "nvskit-check/1"

func newCheckCmd(env *Env) *cobra.Command {
	var keys string
	var asJSON bool
	c := &cobra.Command{
		Use:   "check IMAGE",
		Short: "Check an NVS image's integrity (exit 0 when clean)",
		Long: `Check an NVS partition image: page header CRCs, entry CRCs, data CRCs, bitmap
and page-state consistency, duplicate live keys, blob index and chunk
mismatches, orphan chunks, sequence-number clashes and namespace references.
Things a power cut leaves behind, which the device repairs when it mounts the
partition, are reported as warnings.

Exit status: 0 when there is nothing to report but notes (info), 1 when there
are warnings or errors, 2 for a usage error.`,
		Example: `  nvskit check nvs.bin
  nvskit check --keys nvs_keys.bin --json enc.bin`,
		Args: exactArgs(1, "IMAGE"),
		RunE: func(c *cobra.Command, args []string) error {
			in, err := loadImage(env, args[0], keys)
			if err != nil {
				return err
			}
			im := in.im
			bad := 0
			for _, f := range im.Findings {
				if f.Severity >= nvs.Warning {
					bad++
				}
			}
			if asJSON {
				doc := struct {
					Schema   string        `json:"schema"`
					Path     string        `json:"path"`
					Clean    bool          `json:"clean"`
					Findings []nvs.Finding `json:"findings"`
				}{CheckSchema, in.path, bad == 0, im.Findings}
				if doc.Findings == nil {
					doc.Findings = []nvs.Finding{}
				}
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(doc); err != nil {
					return err
				}
			} else {
				for _, f := range im.Findings {
					writeWrapped(env.Stdout, f.String(), 80, "    ")
				}
				switch {
				case len(im.Findings) == 0:
					fmt.Fprintf(env.Stdout, "%s: clean (%d keys, %d pages)\n", in.path, len(im.Records), len(im.Pages))
				case bad == 0:
					fmt.Fprintf(env.Stdout, "%s: clean, %s\n", in.path, plural(len(im.Findings), "note"))
				default:
					fmt.Fprintf(env.Stdout, "%s: %s\n", in.path, plural(bad, "problem"))
				}
			}
			if bad > 0 {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	c.Flags().StringVar(&keys, "keys", "", "nvs_keys partition image to decrypt an encrypted IMAGE")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON (see docs/inspect-json.md)")
	return c
}

// writeWrapped writes s wrapped at width columns, continuation lines indented.
func writeWrapped(w io.Writer, s string, width int, indent string) {
	words := strings.Fields(s)
	line := ""
	for _, word := range words {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) > width:
			fmt.Fprintln(w, line)
			line = indent + word
		default:
			line += " " + word
		}
	}
	if line != "" {
		fmt.Fprintln(w, line)
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
