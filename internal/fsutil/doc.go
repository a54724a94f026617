// Package fsutil holds the file rules every nvskit command follows, in one place:
//
//   - Write never replaces a file the run did not make unless told (--force, or an update in
//     place that is the command's job), writes atomically through a temporary file (mode 0600)
//     that is never left behind, creates missing directories, honours the umask (never a mode
//     wider than it allows), follows a symbolic link to the file it names, and syncs the
//     directory after the rename. Leftover temporary files of a killed run are removed by the
//     next write to the same target.
//   - ReadFile and Open read an input through the limit its format implies and refuse what is
//     not a regular file (a FIFO, /dev/zero, a directory) without blocking on it.
//   - LockFile locks a file that is updated in place, from before it is read until after it is
//     replaced, so that two runs at once cannot lose an update.
//   - Made records what a run wrote, so that a failed run can remove it again.
package fsutil
