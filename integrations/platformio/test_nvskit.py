"""Tests of nvskit.py against a fake of the part of PlatformIO's SCons environment it uses.

Run from this folder:  python3 -m unittest -v test_nvskit
(go test ./integrations runs this too.) The nvskit binary is a fake that records its arguments,
unless NVSKIT_TEST_BINARY names a real one, which the RealNvskit tests then use.
"""

import json
import os
import re
import runpy
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "nvskit.py")
sys.path.insert(0, HERE)
import nvskit  # noqa: E402  (the module, for its helper functions)

PARTITIONS_16MB = textwrap.dedent("""\
    # Name,   Type, SubType, Offset,  Size, Flags
    nvs,      data, nvs,     0x9000,  0x5000,
    otadata,  data, ota,     ,        0x2000,
    app0,     app,  ota_0,   ,        0x640000,
    app1,     app,  ota_1,   ,        6400K,
    spiffs,   data, spiffs,  ,        0x350000,
    nvs_keys, data, nvs_keys,,        4K, encrypted
    """)

FAKE_NVSKIT = """#!{python}
# Fake nvskit: records its arguments; generate/encrypt write an all-0xFF image of SIZE bytes.
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_NVSKIT_LOG"], "a") as fh:
    fh.write(json.dumps(args) + "\\n")
code = int(os.environ.get("FAKE_NVSKIT_EXIT", "0"))
if code == 0 and args and args[0] in ("generate", "encrypt"):
    with open(args[2], "wb") as fh:
        fh.write(b"\\xff" * int(args[3], 0))
sys.exit(code)
"""

FAKE_ESPTOOL = """import json, os, sys
with open(os.environ["FAKE_NVSKIT_LOG"], "a") as fh:
    fh.write(json.dumps(["esptool"] + sys.argv[1:]) + "\\n")
"""


class FakeEnv(object):
    """The SCons/PlatformIO environment calls nvskit.py makes, recorded."""

    def __init__(self, options, variables):
        self.options = options
        self.vars = variables
        self.pre_actions = []
        self.post_actions = []
        self.targets = {}
        self.executed = []
        self.exit_code = None
        self.autodetected = False

    def GetProjectOption(self, name, default=None):  # noqa: N802 - PlatformIO's name
        if name in self.options:
            return self.options[name]
        if default is None:
            raise KeyError("missing option %s" % name)  # as PlatformIO does without a default
        return default

    def subst(self, text):
        return re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: str(self.vars.get(m.group(1), "")), text)

    def AddPreAction(self, target, action):  # noqa: N802
        self.pre_actions.append((target, action))

    def AddPostAction(self, target, action):  # noqa: N802
        self.post_actions.append((target, action))

    def AddCustomTarget(self, name, dependencies, actions, title=None, description=None,  # noqa: N802
                        always_build=True):
        self.targets[name] = {"dependencies": dependencies, "actions": actions, "title": title,
                              "description": description, "always_build": always_build}

    def Execute(self, cmd):  # noqa: N802
        self.executed.append(cmd)
        return subprocess.call(cmd, shell=True)

    def AutodetectUploadPort(self):  # noqa: N802
        self.autodetected = True
        self.vars["UPLOAD_PORT"] = "/dev/ttyUSB7"

    def Exit(self, code):  # noqa: N802
        self.exit_code = code

    # Helpers for the tests (not SCons calls).
    def run_actions(self, actions):
        for a in actions:
            status = a([], [], self)
            if status:
                return status
        return 0

    def run_target(self, name):
        return self.run_actions(self.targets[name]["actions"])

    def run_hook(self, hooks, target):
        return self.run_actions([a for t, a in hooks if t == target])


class ScriptTest(unittest.TestCase):
    """A project folder with a partition table, a CSV and a fake nvskit."""

    nvskit_binary = None  # the fake, unless a subclass sets a real one

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nvskit-pio-")
        self.addCleanup(shutil.rmtree, self.tmp)
        self.project = os.path.join(self.tmp, "project")
        os.makedirs(os.path.join(self.project, "certificates"))
        self.write("partitions.csv", PARTITIONS_16MB)
        self.write("certificates/root_ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        self.write("certificates/nvs.csv", textwrap.dedent("""\
            key,type,encoding,value
            certs,namespace,,
            root_ca,file,string,certificates/root_ca.pem
            port,data,u16,8883
            """))
        self.log = os.path.join(self.tmp, "calls.log")
        fake = os.path.join(self.tmp, "bin", "nvskit")
        os.makedirs(os.path.dirname(fake))
        with open(fake, "w") as fh:
            fh.write(FAKE_NVSKIT.format(python=sys.executable))
        os.chmod(fake, os.stat(fake).st_mode | stat.S_IEXEC)
        self.fake_nvskit = fake
        esptool = os.path.join(self.tmp, "esptool.py")
        with open(esptool, "w") as fh:
            fh.write(FAKE_ESPTOOL)
        self.esptool = esptool
        patcher = mock.patch.dict(os.environ, {"FAKE_NVSKIT_LOG": self.log, "FAKE_NVSKIT_EXIT": "0"})
        patcher.start()
        self.addCleanup(patcher.stop)

    def write(self, rel, text):
        path = os.path.join(self.project, rel)
        with open(path, "w") as fh:
            fh.write(text)
        return path

    def make_env(self, **options):
        opts = {"board_build.partitions": "partitions.csv",
                "custom_nvskit_path": self.nvskit_binary or self.fake_nvskit}
        opts.update(options)
        for k in [k for k, v in opts.items() if v is None]:
            del opts[k]
        variables = {"PROJECT_DIR": self.project, "BUILD_DIR": os.path.join(self.project, ".pio", "build", "esp32"),
                     "UPLOAD_PORT": "", "UPLOAD_SPEED": "460800", "PYTHONEXE": sys.executable,
                     "UPLOADER": self.esptool, "BOARD_MCU": "esp32"}
        return FakeEnv(opts, variables)

    def load(self, env):
        """Run nvskit.py as PlatformIO does: as a script whose Import("env") yields env."""

        def fake_import(name):
            self.assertEqual(name, "env")
            sys._getframe(1).f_globals["env"] = env

        runpy.run_path(SCRIPT, init_globals={"Import": fake_import})
        return env

    def calls(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as fh:
            return [json.loads(line) for line in fh]

    def image(self, env, name="nvs"):
        return os.path.join(env.vars["BUILD_DIR"], name + ".bin")

    def run_quiet(self, fn, *args):
        """Call fn with stdout and stderr captured; return (result, stderr text)."""
        import io
        err = io.StringIO()
        with mock.patch.object(sys, "stderr", err), mock.patch.object(sys, "stdout", io.StringIO()):
            result = fn(*args)
        return result, err.getvalue()


class RegisterTest(ScriptTest):

    def test_hooks_and_targets(self):
        env = self.load(self.make_env())
        self.assertEqual([t for t, _ in env.pre_actions], ["buildprog"])
        self.assertEqual([t for t, _ in env.post_actions], ["upload"])
        self.assertEqual(sorted(env.targets), ["nvs", "uploadnvs"])
        self.assertEqual(len(env.targets["nvs"]["actions"]), 1)
        self.assertEqual(len(env.targets["uploadnvs"]["actions"]), 2)
        self.assertTrue(env.targets["uploadnvs"]["always_build"])
        self.assertIsNone(env.exit_code)
        self.assertEqual(self.calls(), [])  # loading runs nothing

    def test_flash_on_upload_off(self):
        env = self.load(self.make_env(custom_nvs_flash_on_upload="no"))
        self.assertEqual(env.post_actions, [])
        self.assertIn("uploadnvs", env.targets)

    def test_bad_uploader_exits(self):
        env, err = self.run_quiet(self.load, self.make_env(custom_nvs_uploader="jtag"))
        self.assertEqual(env.exit_code, 1)
        self.assertIn("choose nvskit or esptool", err)

    def test_import_as_module_registers_nothing(self):
        # Importing (no SCons Import in globals) must not fail: the tests above rely on it.
        self.assertTrue(callable(nvskit.register))


class GenerateTest(ScriptTest):

    def test_nvs_target_generates_with_partition_size(self):
        env = self.load(self.make_env())
        status, _ = self.run_quiet(env.run_target, "nvs")
        self.assertEqual(status, 0)
        (call,) = self.calls()
        self.assertEqual(call, ["generate", os.path.join(self.project, "certificates", "nvs.csv"),
                                self.image(env), "0x5000", "--base-dir", self.project, "--force"])
        self.assertEqual(os.path.getsize(self.image(env)), 0x5000)

    def test_pre_build_hook_generates(self):
        env = self.load(self.make_env())
        status, _ = self.run_quiet(env.run_hook, env.pre_actions, "buildprog")
        self.assertEqual(status, 0)
        self.assertEqual(self.calls()[0][0], "generate")

    def test_options(self):
        self.write("partitions.csv", "fctry, data, nvs, 0x10000, 16K, readonly\n")
        self.write("other.csv", "key,type,encoding,value\n")
        env = self.load(self.make_env(custom_nvs_csv="other.csv", custom_nvs_partition="fctry",
                                      custom_nvs_version="1", custom_nvs_base_dir="certificates"))
        status, _ = self.run_quiet(env.run_target, "nvs")
        self.assertEqual(status, 0)
        (call,) = self.calls()
        self.assertEqual(call, ["generate", os.path.join(self.project, "other.csv"), self.image(env, "fctry"),
                                "0x4000", "--version", "1", "--base-dir",
                                os.path.join(self.project, "certificates"), "--force"])

    def test_encrypt_with_keys(self):
        os.makedirs(os.path.join(self.project, "certificates", "keys"))
        keys = self.write("certificates/keys/nvs_keys.bin", "\xff" * 4096)
        env = self.load(self.make_env(custom_nvs_keys="certificates/keys/nvs_keys.bin"))
        status, _ = self.run_quiet(env.run_target, "nvs")
        self.assertEqual(status, 0)
        (call,) = self.calls()
        self.assertEqual(call[:4], ["encrypt", os.path.join(self.project, "certificates", "nvs.csv"),
                                    self.image(env), "0x5000"])
        self.assertEqual(call[4:6], ["--inputkey", keys])

    def test_missing_keys_file_says_how_to_make_it(self):
        env = self.load(self.make_env(custom_nvs_keys="certificates/keys/nvs_keys.bin"))
        status, err = self.run_quiet(env.run_target, "nvs")
        self.assertEqual(status, 1)
        self.assertIn("nvskit generate-key --keyfile nvs_keys.bin --outdir %s" %
                      os.path.join(self.project, "certificates"), err)
        self.assertEqual(self.calls(), [])

    def test_missing_csv(self):
        env = self.load(self.make_env(custom_nvs_csv="nope.csv"))
        status, err = self.run_quiet(env.run_target, "nvs")
        self.assertEqual(status, 1)
        self.assertIn("custom_nvs_csv", err)
        self.assertIn("nope.csv does not exist", err)

    def test_no_partition_table(self):
        env = self.load(self.make_env(**{"board_build.partitions": None}))
        status, err = self.run_quiet(env.run_target, "nvs")
        self.assertEqual(status, 1)
        self.assertIn("board_build.partitions is not set", err)

    def test_builtin_table_name_is_explained(self):
        env = self.load(self.make_env(**{"board_build.partitions": "default_16MB.csv"}))
        status, err = self.run_quiet(env.run_target, "nvs")
        self.assertEqual(status, 1)
        self.assertIn("default_16MB.csv is not a file in the project", err)

    def test_unknown_partition_lists_names(self):
        env = self.load(self.make_env(custom_nvs_partition="fctry"))
        status, err = self.run_quiet(env.run_target, "nvs")
        self.assertEqual(status, 1)
        self.assertIn("no partition named 'fctry'", err)
        self.assertIn("nvs, otadata, app0, app1, spiffs, nvs_keys", err)

    def test_partition_not_nvs(self):
        env = self.load(self.make_env(custom_nvs_partition="spiffs"))
        status, err = self.run_quiet(env.run_target, "nvs")
        self.assertEqual(status, 1)
        self.assertIn("partition spiffs is data/spiffs, not data/nvs", err)

    def test_nvskit_failure_fails_the_build(self):
        env = self.load(self.make_env())
        os.environ["FAKE_NVSKIT_EXIT"] = "254"
        status, err = self.run_quiet(env.run_hook, env.pre_actions, "buildprog")
        self.assertEqual(status, 254)
        self.assertIn("nvskit failed (exit 254)", err)


class FindNvskitTest(ScriptTest):

    def settings(self, **options):
        return nvskit.Settings(self.make_env(**options))

    def test_custom_path_must_exist(self):
        with self.assertRaises(nvskit.NvsKitError) as cm:
            nvskit.find_nvskit(self.settings(custom_nvskit_path="/no/such/nvskit"))
        self.assertIn("go install github.com/nvskit/nvskit/cmd/nvskit@latest", str(cm.exception))

    def test_path_then_gopath(self):
        s = self.settings(custom_nvskit_path="")
        self.assertEqual(nvskit.find_nvskit(s, which=lambda name: "/opt/bin/" + name), "/opt/bin/nvskit")
        gopath = os.path.join(self.tmp, "gopath")
        os.makedirs(os.path.join(gopath, "bin"))
        shutil.copy(self.fake_nvskit, os.path.join(gopath, "bin", "nvskit"))
        with mock.patch.dict(os.environ, {"GOPATH": gopath + os.pathsep + "/elsewhere"}):
            self.assertEqual(nvskit.find_nvskit(s, which=lambda name: None),
                             os.path.join(gopath, "bin", "nvskit"))

    def test_not_found_reports_install(self):
        env = self.load(self.make_env(custom_nvskit_path=""))
        with mock.patch.dict(os.environ, {"GOPATH": os.path.join(self.tmp, "empty"), "PATH": self.tmp}):
            status, err = self.run_quiet(env.run_target, "nvs")
        self.assertEqual(status, 1)
        self.assertIn("nvskit was not found", err)
        self.assertIn("go install github.com/nvskit/nvskit/cmd/nvskit@latest", err)
        # The command for this machine comes first.
        cmd = nvskit.install_command()
        if cmd:
            self.assertIn("    " + cmd + "\n", err)

    def test_install_command_per_platform(self):
        rel = "https://github.com/nvskit/nvskit/releases/latest/download/"
        none = lambda path: False
        debian = lambda path: path == "/etc/debian_version"
        fedora = lambda path: path == "/etc/fedora-release"
        cases = [
            ("Darwin", "arm64", none, "brew install --cask nvskit/tap/nvskit"),
            ("Darwin", "x86_64", none, "brew install --cask nvskit/tap/nvskit"),
            ("Windows", "AMD64", none,
             "scoop bucket add nvskit https://github.com/nvskit/scoop-bucket; scoop install nvskit/nvskit"),
            ("Linux", "x86_64", debian,
             "curl -fsSLO " + rel + "nvskit_linux_amd64.deb && sudo apt install ./nvskit_linux_amd64.deb"),
            ("Linux", "armv7l", debian,
             "curl -fsSLO " + rel + "nvskit_linux_armv7.deb && sudo apt install ./nvskit_linux_armv7.deb"),
            ("Linux", "aarch64", fedora, "sudo dnf install " + rel + "nvskit_linux_arm64.rpm"),
            ("Linux", "aarch64", none,
             "curl -fsSL " + rel + "nvskit_linux_arm64.tar.gz | tar xz && "
             "sudo install nvskit_linux_arm64/nvskit /usr/local/bin/"),
            ("Linux", "riscv64", debian, None),
            ("FreeBSD", "amd64", none, None),
        ]
        for system, machine, exists, want in cases:
            self.assertEqual(nvskit.install_command(system, machine, exists), want, (system, machine))
        hint = nvskit.install_hint("Darwin", "arm64", none)
        self.assertEqual(hint.splitlines()[:4], [
            "nvskit was not found. Install it with",
            "    brew install --cask nvskit/tap/nvskit",
            "or, with Go installed,",
            "    go install github.com/nvskit/nvskit/cmd/nvskit@latest"])
        # Without a release build for the machine, go install is the one command.
        hint = nvskit.install_hint("Linux", "riscv64", none)
        self.assertEqual(hint.splitlines()[:2], [
            "nvskit was not found. Install it with",
            "    go install github.com/nvskit/nvskit/cmd/nvskit@latest"])


class FlashTest(ScriptTest):

    def test_uploadnvs_with_nvskit(self):
        env = self.load(self.make_env())
        status, _ = self.run_quiet(env.run_target, "uploadnvs")
        self.assertEqual(status, 0)
        gen, fl = self.calls()
        self.assertEqual(gen[0], "generate")
        table = os.path.join(self.project, "partitions.csv")
        self.assertEqual(fl, ["flash", self.image(env), "--partition", "nvs", "--partition-table", table,
                              "--port", "/dev/ttyUSB7", "--baud", "460800"])
        self.assertTrue(env.autodetected)

    def test_after_upload_uses_the_upload_port(self):
        env = self.load(self.make_env())
        env.vars["UPLOAD_PORT"] = "COM5"
        self.run_quiet(env.run_target, "nvs")
        status, _ = self.run_quiet(env.run_hook, env.post_actions, "upload")
        self.assertEqual(status, 0)
        self.assertEqual(self.calls()[-1][6:8], ["--port", "COM5"])
        self.assertFalse(env.autodetected)

    def test_flash_before_generate_fails(self):
        env = self.load(self.make_env())
        status, err = self.run_quiet(env.run_hook, env.post_actions, "upload")
        self.assertEqual(status, 1)
        self.assertIn("pio run -t nvs", err)

    def test_encrypted_flashes_keys_too(self):
        os.makedirs(os.path.join(self.project, "keys"))
        keys = self.write("keys/k.bin", "k")
        env = self.load(self.make_env(custom_nvs_keys="keys/k.bin"))
        status, _ = self.run_quiet(env.run_target, "uploadnvs")
        self.assertEqual(status, 0)
        _, img, key = self.calls()
        self.assertEqual(img[:4], ["flash", self.image(env), "--partition", "nvs"])
        self.assertEqual(key[:4], ["flash", keys, "--partition", "nvs_keys"])

    def test_encrypted_esptool_writes_both(self):
        os.makedirs(os.path.join(self.project, "keys"))
        keys = self.write("keys/k.bin", "k")
        env = self.load(self.make_env(custom_nvs_keys="keys/k.bin", custom_nvs_uploader="esptool"))
        env.vars["UPLOAD_PORT"] = "/dev/ttyACM0"
        status, _ = self.run_quiet(env.run_target, "uploadnvs")
        self.assertEqual(status, 0)
        # nvs_keys is placed after spiffs: otadata 0xe000, app0 0x10000, app1 0x650000,
        # spiffs 0xc90000, nvs_keys 0xfe0000.
        self.assertEqual(self.calls()[-1][-4:], ["0x9000", self.image(env), "0xfe0000", keys])

    def test_esptool_uploader(self):
        env = self.load(self.make_env(custom_nvs_uploader="esptool"))
        env.vars["UPLOAD_PORT"] = "/dev/ttyACM0"
        status, _ = self.run_quiet(env.run_target, "uploadnvs")
        self.assertEqual(status, 0)
        self.assertEqual(len(env.executed), 1)
        self.assertIn("write_flash 0x9000", env.executed[0])
        self.assertEqual(self.calls()[-1], ["esptool", "--chip", "esp32", "--port", "/dev/ttyACM0", "--baud",
                                            "460800", "write_flash", "0x9000", self.image(env)])

    def test_flash_failure(self):
        env = self.load(self.make_env())
        self.run_quiet(env.run_target, "nvs")
        os.environ["FAKE_NVSKIT_EXIT"] = "3"
        status, err = self.run_quiet(env.run_hook, env.post_actions, "upload")
        self.assertEqual(status, 3)
        self.assertIn("writing the NVS image failed (exit 3)", err)


class PartitionTableTest(unittest.TestCase):

    def table(self, text):
        fd, path = tempfile.mkstemp(suffix=".csv")
        self.addCleanup(os.remove, path)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return path

    def test_16mb_layout(self):
        rows = nvskit.read_partition_table(self.table(PARTITIONS_16MB))
        got = [(p.name, p.offset, p.size) for p in rows]
        self.assertEqual(got, [
            ("nvs", 0x9000, 0x5000),
            ("otadata", 0xE000, 0x2000),
            ("app0", 0x10000, 0x640000),
            ("app1", 0x650000, 0x640000),
            ("spiffs", 0xC90000, 0x350000),
            ("nvs_keys", 0xFE0000, 0x1000),
        ])
        self.assertEqual(rows[-1].flags, ["encrypted"])
        self.assertEqual(rows[0].subtype, "nvs")

    def test_suffixes_auto_offsets_and_table_offset(self):
        text = "\ufeff# comment\n\nnvs,data,nvs,,24K\nphy_init, data, phy, , 4k\nfactory, app, factory, , 1M\n"
        rows = nvskit.read_partition_table(self.table(text))
        self.assertEqual([(p.offset, p.size) for p in rows],
                         [(0x9000, 0x6000), (0xF000, 0x1000), (0x10000, 0x100000)])
        rows = nvskit.read_partition_table(self.table(text), table_offset=0x10000)
        self.assertEqual(rows[0].offset, 0x11000)
        self.assertEqual(rows[2].offset, 0x20000)

    def test_negative_size_and_errors(self):
        rows = nvskit.read_partition_table(self.table("nvs,data,nvs,0x9000,-0x10000\n"))
        self.assertEqual(rows[0].size, 0x7000)
        with self.assertRaises(nvskit.NvsKitError) as cm:
            nvskit.read_partition_table(self.table("nvs,data,nvs,0x9000,\n"))
        self.assertIn(":1: partition nvs has no size", str(cm.exception))
        with self.assertRaises(nvskit.NvsKitError):
            nvskit.read_partition_table(self.table("nvs,data,nvs,0x9000,lots\n"))
        with self.assertRaises(nvskit.NvsKitError):
            nvskit.read_partition_table("/no/such/table.csv")


@unittest.skipUnless(os.environ.get("NVSKIT_TEST_BINARY"), "NVSKIT_TEST_BINARY not set: fake nvskit only")
class RealNvskitTest(ScriptTest):
    """The same script with the real nvskit binary (go test ./integrations builds one)."""

    nvskit_binary = os.environ.get("NVSKIT_TEST_BINARY")

    def test_generate_real_image(self):
        env = self.load(self.make_env())
        status, err = self.run_quiet(env.run_target, "nvs")
        self.assertEqual(status, 0, err)
        with open(self.image(env), "rb") as fh:
            data = fh.read()
        self.assertEqual(len(data), 0x5000)
        self.assertEqual(data[:4], b"\xfe\xff\xff\xff")  # page 0 ACTIVE
        self.assertIn(b"-----BEGIN CERTIFICATE-----", data)  # the file row was read via --base-dir

    def test_rebuild_replaces_image(self):
        env = self.load(self.make_env())
        for _ in range(2):
            status, err = self.run_quiet(env.run_target, "nvs")
            self.assertEqual(status, 0, err)

    def test_encrypt_real_image(self):
        if subprocess.call([self.nvskit_binary, "encrypt", "--help"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) != 0:
            self.skipTest("this nvskit has no encrypt command")
        os.makedirs(os.path.join(self.project, "certificates", "keys"))
        shutil.copy(os.path.join(HERE, "..", "esp-idf", "testdata", "test_keys.bin"),
                    os.path.join(self.project, "certificates", "keys", "nvs_keys.bin"))
        env = self.load(self.make_env(custom_nvs_keys="certificates/keys/nvs_keys.bin"))
        status, err = self.run_quiet(env.run_target, "nvs")
        self.assertEqual(status, 0, err)
        with open(self.image(env), "rb") as fh:
            data = fh.read()
        self.assertEqual(len(data), 0x5000)
        self.assertEqual(data[:4], b"\xfe\xff\xff\xff")
        self.assertNotIn(b"-----BEGIN CERTIFICATE-----", data)  # encrypted

    def has(self, *command):
        return subprocess.call([self.nvskit_binary] + list(command) + ["--help"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL) == 0

    def test_uploadnvs_to_simulator(self):
        # End to end: the uploadnvs target with the real nvskit, writing to "nvskit simulate" (a
        # simulated ESP32 ROM loader on a local socket), then reading the partition back.
        if not (self.has("simulate") and self.has("flash") and self.has("read")):
            self.skipTest("this nvskit has no simulate/flash/read commands")
        import socket
        import time
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        sim = subprocess.Popen([self.nvskit_binary, "simulate", "--chip", "esp32", "--flash-size", "16MB",
                                "--listen", "127.0.0.1:%d" % port],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(sim.wait)
        self.addCleanup(sim.kill)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or sim.poll() is not None:
                    self.fail("nvskit simulate did not start listening")
                time.sleep(0.1)
        env = self.load(self.make_env())
        env.vars["UPLOAD_PORT"] = "socket://127.0.0.1:%d" % port
        status, err = self.run_quiet(env.run_target, "uploadnvs")
        self.assertEqual(status, 0, err)
        back = os.path.join(self.tmp, "readback.bin")
        subprocess.check_call([self.nvskit_binary, "read", "--partition", "nvs", "--partition-table",
                               os.path.join(self.project, "partitions.csv"), "--port", env.vars["UPLOAD_PORT"],
                               "-o", back], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(back, "rb") as a, open(self.image(env), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_real_error_is_reported(self):
        self.write("certificates/nvs.csv", "key,type,encoding,value\ncerts,namespace,,\nk,data,u8,300\n")
        env = self.load(self.make_env())
        status, err = self.run_quiet(env.run_target, "nvs")
        self.assertNotEqual(status, 0)
        self.assertIn("nvskit failed", err)


if __name__ == "__main__":
    unittest.main()
