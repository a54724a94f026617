"""PlatformIO extra script: build the NVS partition image with nvskit and flash it.

Use it from platformio.ini:

    [env:esp32]
    platform = espressif32
    framework = arduino
    board_build.partitions = partitions.csv
    extra_scripts = pre:nvskit.py
    custom_nvs_csv = certificates/nvs.csv     ; default
    custom_nvs_partition = nvs                ; default: the partition label in partitions.csv
    ; custom_nvs_keys = certificates/keys/nvs_keys.bin  ; encrypt with these XTS keys
    ; custom_nvs_keys_partition = nvs_keys    ; where uploadnvs writes the keys file (default)
    ; custom_nvs_uploader = nvskit            ; or esptool: the platform's own esptool.py
    ; custom_nvs_flash_on_upload = yes        ; write the image after every "upload"
    ; custom_nvs_version = 2                  ; NVS format version (1 for IDF < 4.0 firmware)
    ; custom_nvs_base_dir = certificates      ; file rows are relative to this (default: project)
    ; custom_nvskit_path = /path/to/nvskit    ; default: nvskit on PATH, then ~/go/bin

What it does:

- before the firmware is built, runs `nvskit generate` (or `nvskit encrypt
  --inputkey KEYS` when custom_nvs_keys is set) on the CSV, with the size of
  the partition named in the partition table, into $BUILD_DIR/<partition>.bin;
- after `pio run -t upload`, writes that image at the partition's offset;
- adds the targets `nvs` (generate only) and `uploadnvs` (generate and flash):
  `pio run -t nvs`, `pio run -t uploadnvs`.

Size and offset come from the partition table CSV (board_build.partitions),
read here with the rules of ESP-IDF's gen_esp32part.py for the columns that
matter (k/M suffixes, hex, empty offsets placed after the previous partition
with 4 KiB alignment, 64 KiB for app partitions).

The script needs only the Python standard library and the nvskit binary
(a release package, or `go install github.com/nvskit/nvskit/cmd/nvskit@latest`;
when it is missing, the message gives the one command for this machine). The part of the
SCons environment it uses is kept small on purpose; see register().
"""

import os
import shutil
import subprocess
import sys

RELEASES = "https://github.com/nvskit/nvskit/releases/latest/download/"
GO_INSTALL = "go install github.com/nvskit/nvskit/cmd/nvskit@latest"

# Release builds by (system, machine): the archive or package name part after "nvskit_".
_ARCHES = {
    "x86_64": "amd64", "amd64": "amd64",
    "aarch64": "arm64", "arm64": "arm64", "armv8l": "arm64",
    "armv7l": "armv7", "armv7": "armv7", "armv6l": None,
}


def install_command(system=None, machine=None, exists=os.path.exists):
    """Return the one command that installs nvskit on this machine, or None when there is no
    release build for it (then only `go install` applies).

    system and machine default to platform.system() and platform.machine(); exists is
    os.path.exists (for the tests).
    """
    import platform
    system = system if system is not None else platform.system()
    machine = (machine if machine is not None else platform.machine()).lower()
    arch = _ARCHES.get(machine)
    if system == "Darwin":
        return "brew install --cask nvskit/tap/nvskit"
    if system == "Windows":
        return "scoop bucket add nvskit https://github.com/nvskit/scoop-bucket; scoop install nvskit/nvskit"
    if system != "Linux" or arch is None:
        return None
    if exists("/etc/debian_version"):
        deb = "nvskit_linux_%s.deb" % arch
        return "curl -fsSLO %s%s && sudo apt install ./%s" % (RELEASES, deb, deb)
    if exists("/etc/redhat-release") or exists("/etc/fedora-release"):
        return "sudo dnf install %snvskit_linux_%s.rpm" % (RELEASES, arch)
    return ("curl -fsSL %snvskit_linux_%s.tar.gz | tar xz && sudo install nvskit_linux_%s/nvskit /usr/local/bin/"
            % (RELEASES, arch, arch))


def install_hint(system=None, machine=None, exists=os.path.exists):
    """The message for a missing nvskit: the install command for this machine, `go install`,
    and custom_nvskit_path."""
    cmd = install_command(system, machine, exists)
    lines = ["nvskit was not found. Install it with"]
    if cmd:
        lines += ["    " + cmd, "or, with Go installed,"]
    lines += ["    " + GO_INSTALL,
              "(go install puts it in $(go env GOPATH)/bin, usually ~/go/bin), or set",
              "custom_nvskit_path in platformio.ini to the binary's path."]
    return "\n".join(lines)


DEFAULT_CSV = "certificates/nvs.csv"
DEFAULT_PARTITION = "nvs"
DEFAULT_KEYS_PARTITION = "nvs_keys"
DEFAULT_TABLE_OFFSET = 0x8000


class NvsKitError(Exception):
    """A problem the user must fix; the message says what and how."""


# ---------------------------------------------------------------------------
# Partition table (CSV) reading


class Partition(object):
    """One row of a partition table: name, type, subtype, offset, size, flags."""

    def __init__(self, name, ptype, subtype, offset, size, flags, line):
        self.name = name
        self.type = ptype
        self.subtype = subtype
        self.offset = offset
        self.size = size
        self.flags = flags
        self.line = line

    def __repr__(self):
        return "Partition(%s %s/%s @0x%x size 0x%x)" % (
            self.name, self.type, self.subtype, self.offset, self.size)


def parse_number(text):
    """Parse a gen_esp32part number: decimal, 0x hex, with k/K or m/M suffix."""
    t = text.strip()
    if t[-1:] in ("k", "K"):
        return parse_number(t[:-1]) * 1024
    if t[-1:] in ("m", "M"):
        return parse_number(t[:-1]) * 1024 * 1024
    return int(t, 0)


def read_partition_table(path, table_offset=DEFAULT_TABLE_OFFSET):
    """Read a partition table CSV and return its rows as Partition objects, offsets resolved.

    The table is assumed at 0x8000 (CONFIG_PARTITION_TABLE_OFFSET's default) unless
    table_offset says otherwise; that only matters for rows without an offset.
    """
    try:
        with open(path, "r", encoding="utf-8-sig") as fh:
            lines = fh.read().splitlines()
    except OSError as e:
        raise NvsKitError("cannot read the partition table %s: %s" % (path, e.strerror))
    rows = []
    end = table_offset + 0x1000
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in (line + ",,,,,").split(",")][:6]
        name, ptype, subtype, offset, size, flags = fields
        where = "%s:%d" % (path, n)
        ptype = ptype.lower()
        if ptype in ("bootloader", "partition_table"):
            continue
        try:
            align = 0x10000 if ptype in ("app", "0", "0x0", "0x00") else 0x1000
            if offset:
                off = parse_number(offset)
            else:
                off = (end + align - 1) // align * align
            if not size:
                raise NvsKitError("%s: partition %s has no size" % (where, name))
            sz = parse_number(size)
        except ValueError as e:
            raise NvsKitError("%s: %s" % (where, e))
        if sz < 0:  # "up to this address"
            sz = -sz - off
        rows.append(Partition(name, ptype, subtype.lower(), off, sz,
                              [f for f in flags.split(":") if f], n))
        end = off + sz
    return rows


def find_partition(rows, name, path):
    """Return the row called name, or raise with the names that exist."""
    for p in rows:
        if p.name == name:
            return p
    raise NvsKitError("%s has no partition named %r (it has: %s)" % (
        path, name, ", ".join(p.name for p in rows) or "none"))


# ---------------------------------------------------------------------------
# Settings from platformio.ini


class Settings(object):
    """The script's options, read from platformio.ini through the SCons environment."""

    def __init__(self, env):
        opt = env.GetProjectOption
        self.project_dir = env.subst("$PROJECT_DIR")
        self.build_dir = env.subst("$BUILD_DIR")
        self.csv = self._path(opt("custom_nvs_csv", DEFAULT_CSV))
        self.partition = opt("custom_nvs_partition", DEFAULT_PARTITION).strip()
        keys = opt("custom_nvs_keys", "").strip()
        self.keys = self._path(keys) if keys else ""
        self.keys_partition = opt("custom_nvs_keys_partition", DEFAULT_KEYS_PARTITION).strip()
        self.uploader = opt("custom_nvs_uploader", "nvskit").strip().lower()
        if self.uploader not in ("nvskit", "esptool"):
            raise NvsKitError("custom_nvs_uploader = %s: choose nvskit or esptool" % self.uploader)
        self.flash_on_upload = opt("custom_nvs_flash_on_upload", "yes").strip().lower() in (
            "yes", "true", "1", "on")
        self.version = opt("custom_nvs_version", "").strip()
        self.base_dir = self._path(opt("custom_nvs_base_dir", "") or self.project_dir)
        self.nvskit_path = opt("custom_nvskit_path", "").strip()
        table = opt("board_build.partitions", "").strip()
        self.table = self._path(table) if table else ""
        self.image = os.path.join(self.build_dir, self.partition + ".bin")

    def _path(self, p):
        p = os.path.expanduser(p.strip())
        return p if os.path.isabs(p) else os.path.join(self.project_dir, p)


def find_nvskit(settings, which=shutil.which):
    """Return the nvskit binary's path: custom_nvskit_path, then PATH, then ~/go/bin."""
    if settings.nvskit_path:
        p = settings.nvskit_path
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
        raise NvsKitError("custom_nvskit_path = %s: no executable there.\n%s" % (p, install_hint()))
    found = which("nvskit")
    if found:
        return found
    gopath = (os.environ.get("GOPATH") or "").split(os.pathsep)[0] or os.path.join(os.path.expanduser("~"), "go")
    for name in ("nvskit", "nvskit.exe"):
        p = os.path.join(gopath, "bin", name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise NvsKitError(install_hint())


def nvs_partition(settings):
    """Return the NVS partition's row from board_build.partitions."""
    if not settings.table:
        raise NvsKitError(
            "board_build.partitions is not set in platformio.ini: nvskit needs a partition table CSV "
            "in the project (e.g. board_build.partitions = partitions.csv) to know the NVS partition's "
            "size and offset")
    if not os.path.isfile(settings.table):
        raise NvsKitError(
            "board_build.partitions: %s is not a file in the project. nvskit.py reads the table "
            "from the project, not the framework's built-in tables: copy the CSV into the project "
            "and name it there" % settings.table)
    rows = read_partition_table(settings.table)
    part = find_partition(rows, settings.partition, settings.table)
    if part.type not in ("data", "1", "0x1", "0x01") or part.subtype not in ("nvs", "2", "0x2", "0x02"):
        raise NvsKitError("%s:%d: partition %s is %s/%s, not data/nvs" % (
            settings.table, part.line, part.name, part.type, part.subtype))
    return part


# ---------------------------------------------------------------------------
# Commands


def keys_hint(keys):
    """How to make the keys file custom_nvs_keys names (nvskit writes it to OUTDIR/keys/NAME)."""
    name = os.path.basename(keys)
    folder = os.path.dirname(keys)
    if os.path.basename(folder) == "keys":
        return ("Make it once, and keep it (the device needs the same keys), with\n"
                "    nvskit generate-key --keyfile %s --outdir %s" % (name, os.path.dirname(folder)))
    return ("Make it once, and keep it (the device needs the same keys), with\n"
            "    nvskit generate-key --keyfile %s --outdir DIR\n"
            "and move DIR/keys/%s to %s" % (name, name, keys))


def generate_command(settings, nvskit, part):
    """The nvskit command line that makes the image (generate, or encrypt with the keys file)."""
    if not os.path.isfile(settings.csv):
        raise NvsKitError("custom_nvs_csv: %s does not exist" % settings.csv)
    if settings.keys:
        if not os.path.isfile(settings.keys):
            raise NvsKitError("custom_nvs_keys: %s does not exist. %s" % (settings.keys, keys_hint(settings.keys)))
        cmd = [nvskit, "encrypt", settings.csv, settings.image, "0x%x" % part.size,
               "--inputkey", settings.keys]
    else:
        cmd = [nvskit, "generate", settings.csv, settings.image, "0x%x" % part.size]
    if settings.version:
        cmd += ["--version", settings.version]
    # File rows (e.g. "root_ca,file,string,certificates/root_ca.pem") are relative to
    # custom_nvs_base_dir: by default the project folder, where nvs_partition_gen.py was run.
    cmd += ["--base-dir", settings.base_dir]
    # The image is this build's own output: every build replaces the one before (nvskit
    # replaces no existing file without --force).
    cmd += ["--force"]
    return cmd


def flash_commands(settings, env, nvskit, part):
    """The commands that write the image (and the keys file, when encrypting) to the device."""
    images = [(part, settings.image)]
    if settings.keys:
        rows = read_partition_table(settings.table)
        images.append((find_partition(rows, settings.keys_partition, settings.table), settings.keys))
    if settings.uploader == "esptool":
        # The platform's own esptool.py, as its upload action runs it.
        base = '"$PYTHONEXE" "$UPLOADER" --chip $BOARD_MCU --port "$UPLOAD_PORT" --baud $UPLOAD_SPEED'
        args = " ".join('0x%x "%s"' % (p.offset, img) for p, img in images)
        return [env.subst(base + " write_flash " + args)]
    # nvskit flash finds the offset in the same table and refuses an image larger than the
    # partition, or a write over the bootloader, the partition table or an app.
    port = env.subst("$UPLOAD_PORT")
    speed = env.subst("$UPLOAD_SPEED")
    cmds = []
    for p, img in images:
        cmd = [nvskit, "flash", img, "--partition", p.name, "--partition-table", settings.table]
        if port:
            cmd += ["--port", port]
        if speed:
            cmd += ["--baud", speed]
        cmds.append(cmd)
    return cmds


def quote(cmd):
    """Render a command for the log."""
    if isinstance(cmd, str):
        return cmd
    return " ".join('"%s"' % a if (" " in a or not a) else a for a in cmd)


def run(cmd, env):
    """Run one command, printing it first; return its exit status."""
    print(quote(cmd))
    sys.stdout.flush()
    if isinstance(cmd, str):
        return env.Execute(cmd)
    return subprocess.call(cmd)


# ---------------------------------------------------------------------------
# SCons glue


def generate(env):
    """Make the image; return 0 or an exit status (printing why)."""
    try:
        settings = Settings(env)
        part = nvs_partition(settings)
        nvskit = find_nvskit(settings)
        if not os.path.isdir(settings.build_dir):
            os.makedirs(settings.build_dir)
        cmd = generate_command(settings, nvskit, part)
    except NvsKitError as e:
        sys.stderr.write("nvskit.py: error: %s\n" % e)
        return 1
    status = run(cmd, env)
    if status != 0:
        sys.stderr.write("nvskit.py: error: nvskit failed (exit %s) making %s\n" % (status, settings.image))
    return status


def flash(env):
    """Write the image (made by generate) at its partition's offset; return 0 or an exit status."""
    try:
        settings = Settings(env)
        part = nvs_partition(settings)
        nvskit = find_nvskit(settings) if settings.uploader == "nvskit" else ""
        if not os.path.isfile(settings.image):
            raise NvsKitError("%s does not exist: run `pio run -t nvs` first" % settings.image)
        if not env.subst("$UPLOAD_PORT"):
            env.AutodetectUploadPort()
        cmds = flash_commands(settings, env, nvskit, part)
    except NvsKitError as e:
        sys.stderr.write("nvskit.py: error: %s\n" % e)
        return 1
    for cmd in cmds:
        status = run(cmd, env)
        if status != 0:
            sys.stderr.write("nvskit.py: error: writing the NVS image failed (exit %s)\n" % status)
            return status
    return 0


def _action(fn):
    """Wrap fn(env) as a SCons action function (target, source, env)."""

    def action(target, source, env):  # noqa: ARG001 - the SCons signature
        return fn(env)

    action.__name__ = fn.__name__
    return action


def register(env):
    """Hook the script into the build: the calls below are the whole SCons surface it uses."""
    generate_action = _action(generate)
    flash_action = _action(flash)
    env.AddPreAction("buildprog", generate_action)
    try:
        settings = Settings(env)
    except NvsKitError as e:
        sys.stderr.write("nvskit.py: error: %s\n" % e)
        env.Exit(1)
        return
    if settings.flash_on_upload:
        env.AddPostAction("upload", flash_action)
    env.AddCustomTarget(
        name="nvs",
        dependencies=None,
        actions=[generate_action],
        title="NVS image",
        description="Generate the NVS partition image with nvskit",
        always_build=True,
    )
    env.AddCustomTarget(
        name="uploadnvs",
        dependencies=None,
        actions=[generate_action, flash_action],
        title="Upload NVS image",
        description="Generate the NVS partition image with nvskit and write it to the device",
        always_build=True,
    )


try:
    Import("env")  # noqa: F821 - SCons puts Import in the script's globals
except NameError:  # imported as a module (tests, tools): nothing to hook
    pass
else:
    register(env)  # noqa: F821
