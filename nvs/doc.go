// Package nvs holds the ESP-IDF NVS on-flash format: entry and page layout, item types, CRCs
// and page states (format.go); Builder, which lays items out into an image exactly as
// Espressif's nvs_partition_gen does (builder.go); and XTS encryption with the keys-partition
// format (crypt.go).
//
// The read side and the editor follow the device: Parse (parse.go) reads any image, the ones a
// device wrote included, into an Image with the values ESP-IDF's nvs_flash library would read
// after mounting it, and lists integrity problems as Findings instead of failing; Image.Space
// reports how full it is (space.go). Editor (edit.go) changes an image with the library's own
// write rules (same-value no-op, append then erase, blob version toggling, garbage collection),
// so the result is the image the device would have written. Both run a model of the library
// (device.go), checked byte for byte against images the library wrote
// (testdata/golden/device).
//
// Recognize (recognize.go) tells an NVS image from other bytes (random data, a zero-filled
// file, a CSV) before anything is read from it or written over it; an erased partition counts
// as a valid empty image.
//
// The package works on bytes only: it opens no files and knows nothing of CSV or flags.
//
// An image is a sequence of 4096-byte pages. Each page has a 32-byte header (state, sequence
// number, version, CRC), a 32-byte bitmap with two bits of state per entry, and 126 entries
// of 32 bytes. An item takes one entry, or for strings and blobs a header entry followed by
// its payload. See the package's README section in the repository for the details.
package nvs
