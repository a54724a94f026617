// Package cli holds nvskit's commands: one file per command, with their flags, output formats
// (text, --json) and exit codes, and no format logic of their own; that lives in the nvs,
// nvscsv, partition, mfg and esploader packages.
//
// Commands run in-process with Run and an Env that carries the working directory and the
// output streams, which is how the tests drive them. Exit codes: 0 success, 1 failure (or
// findings, for check), 2 a bad command line.
package cli
