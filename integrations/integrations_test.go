package integrations

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	// The tests build and run cmd/nvskit; importing its code makes go test's cache depend on it.
	_ "github.com/nvskit/nvskit/internal/cli"
)

// needTool returns the path of an outside tool, skipping the test when it is missing (failing
// under CI, where .ci/run is expected to have installed it).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, and CI is set: .ci/run must install it", name)
	}
	t.Skipf("skipping: %s is not installed (install it to run this test; under CI=1 this fails)", name)
	return ""
}

// track reads every file under the given folders, so that go test's cache (which only sees the
// files the test process itself opens) reruns the test when one of them changes.
func track(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			_, err = os.ReadFile(path)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// run runs a command in dir and fails the test with its output when it fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestFirmwareHostTests compiles the firmware library with its in-memory NVS fake, with and
// without the encryption code, warnings as errors and no exceptions, and runs the tests.
func TestFirmwareHostTests(t *testing.T) {
	t.Parallel()
	gxx := needTool(t, "g++")
	fw, err := filepath.Abs("../firmware")
	if err != nil {
		t.Fatal(err)
	}
	track(t, fw)
	for _, enc := range []string{"1", "0"} {
		t.Run("encryption="+enc, func(t *testing.T) {
			t.Parallel()
			bin := filepath.Join(t.TempDir(), "reader_test")
			run(t, fw, nil, gxx,
				"-std=c++17", "-fno-exceptions", "-fno-rtti", "-Wall", "-Wextra", "-Werror", "-pedantic",
				"-DNVSKIT_READER_ENCRYPTION="+enc,
				"-Itest/fake", "-Invskit_reader/src",
				"test/reader_test.cpp", "test/fake/fake_nvs.cpp", "nvskit_reader/src/NvsKitReader.cpp",
				"-o", bin)
			out := run(t, fw, nil, bin)
			t.Log(strings.TrimSpace(out))
		})
	}
}

// TestExampleFirmwareCompiles checks that the examples' firmware sources compile against the
// reader library, the NVS fake and declaration-only stubs of the other ESP-IDF and Arduino APIs
// they use (firmware/test/stubs). It catches mistakes in the use of the library; it is not a
// build for an ESP32 (no toolchain here).
func TestExampleFirmwareCompiles(t *testing.T) {
	t.Parallel()
	gxx := needTool(t, "g++")
	fw, err := filepath.Abs("../firmware")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Abs("../examples")
	if err != nil {
		t.Fatal(err)
	}
	track(t, fw, filepath.Join(examples, "esp-idf-factory", "main"), filepath.Join(examples, "platformio-aws-iot", "src"))
	for _, src := range []string{"esp-idf-factory/main/main.cpp", "platformio-aws-iot/src/main.cpp"} {
		t.Run(src, func(t *testing.T) {
			t.Parallel()
			run(t, fw, nil, gxx, "-std=c++17", "-fno-exceptions", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
				"-Itest/stubs", "-Itest/fake", "-Invskit_reader/src", filepath.Join(examples, src))
		})
	}
}

// TestPlatformIOScript runs the PlatformIO extra script's unittest suite against its fake SCons
// environment. When the test binary can build nvskit, the suite also runs against the real one.
func TestPlatformIOScript(t *testing.T) {
	t.Parallel()
	py := needTool(t, "python3")
	dir, err := filepath.Abs("platformio")
	if err != nil {
		t.Fatal(err)
	}
	track(t, dir)
	var env []string
	if nvskit := buildNvskit(t); nvskit != "" {
		env = append(env, "NVSKIT_TEST_BINARY="+nvskit)
	}
	out := run(t, dir, env, py, "-B", "-m", "unittest", "-v", "test_nvskit")
	t.Log(out)
}

// TestESPIDFHelper runs the CMake helper's script-mode test with stubbed IDF functions, in a
// temporary directory; with nvskit built, the recorded generate command is run for real too.
func TestESPIDFHelper(t *testing.T) {
	t.Parallel()
	cmake := needTool(t, "cmake")
	script, err := filepath.Abs("esp-idf/test_nvskit.cmake")
	if err != nil {
		t.Fatal(err)
	}
	track(t, filepath.Dir(script))
	args := []string{}
	if nvskit := buildNvskit(t); nvskit != "" {
		args = append(args, "-DNVSKIT_REAL="+nvskit)
	}
	args = append(args, "-P", script)
	out := run(t, t.TempDir(), nil, cmake, args...)
	t.Log(out)
}

var (
	nvskitOnce sync.Once
	nvskitBin  string
	nvskitErr  error
)

// buildNvskit builds the nvskit command once per test run into a temporary directory; "" when
// go is not on PATH (the tests then use their fakes only).
func buildNvskit(t *testing.T) string {
	t.Helper()
	nvskitOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			return
		}
		dir, err := os.MkdirTemp("", "nvskit-bin-")
		if err != nil {
			nvskitErr = err
			return
		}
		bin := filepath.Join(dir, "nvskit")
		cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/nvskit")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			nvskitErr = fmt.Errorf("go build ./cmd/nvskit: %v\n%s", err, out)
			return
		}
		nvskitBin = bin
	})
	if nvskitErr != nil {
		t.Fatal(nvskitErr)
	}
	if nvskitBin == "" {
		t.Log("go not on PATH: using the fake nvskit only")
	}
	return nvskitBin
}

// TestMain removes the nvskit binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if nvskitBin != "" {
		os.RemoveAll(filepath.Dir(nvskitBin))
	}
	os.Exit(code)
}
