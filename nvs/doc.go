// Package nvs holds the ESP-IDF NVS on-flash format: entry and page layout, item types, CRCs
// and page states (format.go); Builder, which lays items out into an image exactly as
// Espressif's nvs_partition_gen does (builder.go); and XTS encryption with the keys-partition
// format (crypt.go).
//
// The package works on bytes only: it opens no files and knows nothing of CSV or flags.
//
// An image is a sequence of 4096-byte pages. Each page has a 32-byte header (state, sequence
// number, version, CRC), a 32-byte bitmap with two bits of state per entry, and 126 entries
// of 32 bytes. An item takes one entry, or for strings and blobs a header entry followed by
// its payload. See the package's README section in the repository for the details.
package nvs
