package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
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
	var of outFlags
	c := &cobra.Command{
		Use:   "export IMAGE DIR",
		Short: "Write an NVS image back out as a CSV plus files",
		Long: `Write the items of an NVS image to DIR/nvs.csv, with one file per blob or long
string next to it, such that running the generate command printed at the top of
nvs.csv inside DIR gives the image back (byte-identical for images made by
nvs_partition_gen or nvskit generate). Items are written in the order they are
stored, duplicates included. Every file is written with mode 0600. A new DIR
appears complete or not at all; in an existing DIR, nvs.csv and the value files
never replace files that exist unless --force.
With --keys the image is decrypted first, and nvs.csv also names the encrypt
command that rebuilds the encrypted image with the same keys.

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
			o, err := of.options()
			if err != nil {
				return err
			}
			cmd := "nvskit " + strings.Join(exportCommand(in.im), " ")
			comments := []string{fmt.Sprintf("exported by nvskit from %s", filepath.Base(args[0])),
				"rebuild in this folder with: " + cmd}
			if in.keys != nil {
				enc := "nvskit encrypt" + strings.TrimPrefix(cmd, "nvskit generate") + " --inputkey " + keys
				comments = append(comments, "or, encrypted as it was: "+enc)
			}
			var b bytes.Buffer
			if err := nvscsv.WriteCSV(&b, rows, comments...); err != nil {
				return err
			}
			out := map[string][]byte{"nvs.csv": b.Bytes()}
			for _, f := range files {
				out[f.Name] = f.Data
			}
			if err := writeDir(env, dir, out, o); err != nil {
				return err
			}
			env.made.Keep() // what follows reports on the data, not on the files
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
	of.register(c, env, 0, nil)
	return c
}

// writeDir writes files (name to content, mode 0600) into dir. A new dir is filled in a
// staging directory next to it and moved into place whole, so that a failure (a full disk, a
// kill) leaves no partial folder with secrets in it. In an existing dir every file is checked
// before the first is written, and the run's files are removed again on failure.
func writeDir(env *Env, dir string, files map[string][]byte, o fsutil.Options) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	if _, err := os.Lstat(dir); err == nil {
		for _, n := range names {
			if err := checkNew(o, filepath.Join(dir, n)); err != nil {
				return err
			}
		}
		for _, n := range names {
			if err := env.ctx().Err(); err != nil {
				return err
			}
			if err := writeOutput(filepath.Join(dir, n), files[n], o); err != nil {
				return err
			}
		}
		return nil
	}
	stage, err := fsutil.NewStagingDir(dir)
	if err != nil {
		return err
	}
	defer stage.Discard()
	for _, n := range names {
		if err := env.ctx().Err(); err != nil {
			return err
		}
		if err := fsutil.Write(filepath.Join(stage.Path, n), files[n], fsutil.Options{Mode: 0o600}); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is the staging directory's
			}
			return fmt.Errorf("writing %s: %w", filepath.Join(dir, n), err)
		}
	}
	if err := env.ctx().Err(); err != nil {
		return err
	}
	return stage.Commit(0o755)
}
