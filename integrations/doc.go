// Package integrations holds no Go code of its own: it is the home of the build and firmware
// integrations (the PlatformIO extra script under platformio/, the ESP-IDF CMake helper under
// esp-idf/) and of the Go test that runs their tests, and the firmware library's host tests, as
// part of "go test ./...".
//
// Each test needs one outside tool: python3 (the PlatformIO script's unittest suite), g++ (the
// firmware library's host tests) or cmake (the ESP-IDF helper's script-mode test). A missing tool
// skips its test with a message, unless the environment variable CI is set, where it fails.
package integrations
