// Package golden loads the golden vectors kept under testdata/golden: cases made with
// Espressif's own tools and ESP-IDF's nvs_flash library (see testdata/golden/README.md).
// The directory is an exact copy of the project's master set of vectors, which its maintainers
// keep next to their checkout (../shared/golden) and copy in with scripts/sync-golden; a clone
// of the repository needs only the copy.
package golden
