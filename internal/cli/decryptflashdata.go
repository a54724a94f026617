package cli

import "github.com/spf13/cobra"

func newDecryptFlashDataCmd(env *Env) *cobra.Command {
	return newFlashDataCmd(env, true)
}
