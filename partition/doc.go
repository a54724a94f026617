// Package partition reads, writes and checks ESP-IDF partition tables, in both forms:
// the CSV that projects keep (partitions.csv) and the 0xC00-byte binary the bootloader reads at
// the table offset (0x8000 by default).
//
// It follows ESP-IDF v5.5's gen_esp32part.py: ParseCSV accepts the same dialect (comments,
// $VAR expansion, sizes in decimal, hex, K and M, type and subtype names or numbers, empty
// offsets placed automatically, negative sizes as end addresses) and EncodeBinary makes the same
// bytes; ParseBinary and WriteCSV make the same CSV text. Verify applies the tool's alignment,
// overlap and size rules, CheckFlashSize its --flash-size rule, and Lint adds the NVS and
// encryption checks the tool does not make.
//
// Tables that gen_esp32part.py rejects are rejected here too, with errors that name the CSV line
// or the binary entry and say how to fix the problem; errors wrap sentinel errors (ErrOverlap,
// ErrMisaligned, ...) for callers that branch on them. Every input the tool crashes on is a
// plain error here. A few tables the tool accepts are refused, all of them tables it cannot
// read back or that no device needs: two names that become the same 16-byte label, a name
// containing NUL, a number with more than 8 K/M suffixes. On every other table the output is
// the tool's, byte for byte.
//
// The package works on byte slices, readers and writers; it opens no files.
package partition
