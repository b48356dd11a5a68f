package main

import "github.com/spf13/cobra"

func init() { registerCommand(newReportCmd) }

// reportCommandConstructors are the subcommands of `aiconform report`,
// registered by each subcommand's file in an init function.
var reportCommandConstructors []func(Streams) *cobra.Command

func registerReportCommand(f func(Streams) *cobra.Command) {
	reportCommandConstructors = append(reportCommandConstructors, f)
}

func newReportCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Render, compare, sign and verify conformance reports",
		Long: "report works on the report.json a run writes: render it in another format, compare two runs for\n" +
			"regressions, sign it as an in-toto attestation and verify such an attestation.",
		Args: cobra.NoArgs,
	}
	for _, f := range reportCommandConstructors {
		cmd.AddCommand(f(s))
	}
	return cmd
}
