package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/nvscsv"
)

// exportCommand is the generate command line that rebuilds an exported image, run in DIR.
func exportCommand(im *nvs.Image) []string {
	args := []string{"generate"}
	if im.FormatVersion() == nvs.V1 {
		args = append(args, "--version", "1")
	}
	return append(args, "nvs.csv", "nvs.bin", sizeHex(im.Size))
}

func newExportCmd(env *Env) *cobra.Command {
	var keys string
	c := &cobra.Command{
		Use:   "export IMAGE DIR",
		Short: "Write an NVS image back out as a CSV plus files",
		Long: `Write the items of an NVS image to DIR/nvs.csv, with one file per blob or long
string next to it, such that running the generate command printed at the top of
nvs.csv inside DIR gives the image back (byte-identical for images made by
nvs_partition_gen or nvskit generate). Items are written in the order they are
stored, duplicates included. Blob and string files are written with mode 0600.

Items that no CSV row can express (a string that is not UTF-8, holds a NUL or
lacks its terminating NUL) are reported and make the exit status 1.`,
		Example: `  nvskit export nvs.bin out/ && cd out && nvskit generate nvs.csv nvs.bin 0x6000
  nvskit export --keys nvs_keys.bin enc.bin plain/`,
		Args: exactArgs(2, "IMAGE DIR"),
		RunE: func(c *cobra.Command, args []string) error {
			in, err := loadImage(env, args[0], keys)
			if err != nil {
				return err
			}
			items, skipped := in.im.StoredItems()
			rows, files, problems := nvscsv.Export(items, nvscsv.ExportOptions{})
			dir := env.Path(args[1])
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			cmd := "nvskit " + strings.Join(exportCommand(in.im), " ")
			var b bytes.Buffer
			if err := nvscsv.WriteCSV(&b, rows,
				fmt.Sprintf("exported by nvskit from %s", filepath.Base(args[0])),
				"rebuild in this folder with: "+cmd); err != nil {
				return err
			}
			for _, f := range files {
				if err := fsutil.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o600); err != nil {
					return err
				}
			}
			if err := fsutil.WriteFile(filepath.Join(dir, "nvs.csv"), b.Bytes(), 0o600); err != nil {
				return err
			}
			for _, s := range skipped {
				fmt.Fprintf(env.Stderr, "nvskit: warning: left out %s\n", s)
			}
			fmt.Fprintf(env.Stdout, "Wrote %s with %s and %s.\nRebuild it inside %s with: %s\n",
				filepath.Join(args[1], "nvs.csv"), plural(len(rows), "row"), plural(len(files), "file"), args[1], cmd)
			if len(problems) > 0 {
				for _, p := range problems {
					fmt.Fprintf(env.Stderr, "nvskit: cannot export %s\n", p)
				}
				return &ExitError{Code: 1, Err: fmt.Errorf("%s could not be exported; the rebuilt image will lack them", plural(len(problems), "item"))}
			}
			return nil
		},
	}
	c.Flags().StringVar(&keys, "keys", "", "nvs_keys partition image to decrypt an encrypted IMAGE")
	return c
}
