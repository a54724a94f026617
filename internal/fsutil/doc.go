// Package fsutil holds the few file operations every command shares: atomic writes that never
// leave a partial file, and the check that an output does not overwrite an input.
package fsutil
