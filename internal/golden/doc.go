// Package golden loads the golden vectors kept under testdata/golden: cases made with
// Espressif's own tools and ESP-IDF's nvs_flash library (see testdata/golden/README.md).
// The directory is an exact copy of ../shared/golden, refreshed by scripts/sync-golden.
package golden
