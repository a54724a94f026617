package cli

import "github.com/spf13/cobra"

func newPartitionsShowCmd(env *Env) *cobra.Command  { return &cobra.Command{Use: "show"} }
func newPartitionsCheckCmd(env *Env) *cobra.Command { return &cobra.Command{Use: "check"} }
