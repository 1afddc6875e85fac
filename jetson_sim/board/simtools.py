#!/usr/bin/python3
"""SIMULATED stand-ins for NVIDIA Jetson hardware tools. They live only inside jetson-sim boards.

Installed at /usr/lib/jetson-sim/simtools.py; each tool is a symlink to this file and the tool is
chosen by the name it was called as (`simtools.py <tool> ...` also works). Stdlib only, Python 3.11.
The board's profile is /etc/jetson-sim/profile.json (the YAML profile as JSON). Outputs copy the
formats recorded in docs/facts.md (cited as "docs/facts.md section N") and carry no
"simulated" banner, because real parsers read them; only --help/--version text says so.

Environment (simulator only, never on a real board):
  JETSON_SIM_ROOT              prefix for every absolute path read or written (tests), default ""
  JETSON_SIM_TEGRASTATS_COUNT  tegrastats stops after this many lines (tests)
"""

import contextlib
import fcntl
import json
import os
import random
import re
import signal
import sys
import time
import zlib

ROOT = os.environ.get("JETSON_SIM_ROOT", "")
PROFILE = "/etc/jetson-sim/profile.json"
MEMINFO = "/var/lib/jetson-sim/meminfo"  # bind-mounted over the board's /proc/meminfo
MEM_D = "/run/jetson-sim/mem.d"  # one file per simulated allocation, content = bytes
GR3D = "/run/jetson-sim/gr3d"  # simulated GPU load in percent
TEGRASTATS_PID = "/run/jetson-sim/tegrastats.pid"
NVPMODEL_CONF = "/etc/nvpmodel.conf"
NVPMODEL_STATUS = "/var/lib/nvpmodel/status"
SWAPS = "/run/jetson-sim/swaps"  # the board's swap table, bind-mounted over /proc/swaps (Jetson boards)
BOOT_TARGET = "/run/jetson-sim/boot-target"  # the systemd target this boot started (init.sh)
BOOTED = "/run/jetson-sim/booted"  # when this boot began, seconds since the epoch (init.sh)
UPTIME = "/run/jetson-sim/uptime"  # bind-mounted over /proc/uptime: the board's own, not the host's
CLOCKS = "/run/jetson-sim/clocks"  # jetson_clocks pinned the clocks this boot
FSTAB = "/etc/fstab"
DESKTOP_MB = 800  # what the desktop takes over a headless boot (docs/facts.md section 3)
SERIAL = "/var/lib/jetson-sim/devicetree/base/serial-number"
SIM_NOTE = "(jetson-sim: simulated stand-in, not NVIDIA's tool)"


def p(path):
    """Absolute board path -> host path (JETSON_SIM_ROOT prefix, for tests)."""
    return ROOT + path


def load_profile():
    with open(p(PROFILE)) as f:
        return json.load(f)


def jetson(profile):
    return profile.get("jetson") or {}


def fail(tool, message, code=1):
    print(f"{tool}: {message}", file=sys.stderr)
    return code


def read_text(path, default=""):
    try:
        with open(p(path)) as f:
            return f.read()
    except OSError:
        return default


# ---------------------------------------------------------------- nvidia-smi (docs/facts.md section 2)

GPU_NAME = "Orin (nvgpu)"  # jetson-containers treats a name containing "nvgpu" as Tegra


def gpu_name(smi):
    """The profile's jetson.nvidia_smi.gpu_name: "NVIDIA Thor" on JetPack 7 (no "nvgpu": SBSA to
    jetson-containers), else the JetPack 6 Orin's name."""
    return smi.get("gpu_name", GPU_NAME)


def driver_version(smi):
    return smi.get("driver_version", "N/A")  # JetPack 6 prints N/A (docs/facts.md section 2)


def gpu_uuid():
    # a stable per-board UUID from the devicetree serial number (the real value's origin is unverified)
    serial = read_text(SERIAL, "0").strip("\0\n")
    h = f"{zlib.crc32(serial.encode()):08x}{zlib.crc32(serial[::-1].encode() + b'gpu'):08x}" * 2
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def nvidia_smi(args):
    smi = jetson(load_profile()).get("nvidia_smi")
    if not smi:  # JetPack 5 boards have no nvidia-smi at all; seed.py does not install the link
        return fail("nvidia-smi", "command not found", 127)
    if args in (["-h"], ["--help"]):
        print(f"NVIDIA System Management Interface -- v{smi['version']} {SIM_NOTE}\n"
              "usage: nvidia-smi [-L] [--query-gpu=FIELDS --format=csv[,noheader][,nounits]]")
        return 0
    if args and args[0] in ("-L", "--list-gpus"):
        print(f"GPU 0: {gpu_name(smi)} (UUID: {gpu_uuid()})")
        return 0
    query = fmt = None
    for i, arg in enumerate(args):
        if arg.startswith("--query-gpu"):
            query = arg.partition("=")[2] or (args[i + 1] if i + 1 < len(args) else "")
        elif arg.startswith("--format"):
            fmt = arg.partition("=")[2] or (args[i + 1] if i + 1 < len(args) else "")
    if query is not None:
        return smi_query(smi, query, fmt)
    if args:
        print("Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.")
        return 2
    print_smi_table(smi)
    return 0


# --query-gpu on a JetPack 6 board: only the name is known, the rest [N/A]. unverified: the facts
# record [N/A]-style fields for the table, not the exact CSV answers. Thor's memory fields are
# unverified too: [N/A] here, as third-party reports say some Thor BSPs answer.
SMI_FIELDS = {
    "name": ("name", gpu_name), "gpu_name": ("name", gpu_name),
    "uuid": ("uuid", lambda smi: gpu_uuid()), "gpu_uuid": ("uuid", lambda smi: gpu_uuid()),
    "index": ("index", lambda smi: "0"),
    "driver_version": ("driver_version", lambda smi: smi.get("driver_version", "[N/A]")),
    "memory.used": ("memory.used [MiB]", None),
    "memory.total": ("memory.total [MiB]", None), "memory.free": ("memory.free [MiB]", None),
    "utilization.gpu": ("utilization.gpu [%]", None), "temperature.gpu": ("temperature.gpu", None),
    "power.draw": ("power.draw [W]", None),
}


def smi_query(smi, query, fmt):
    if not fmt or not fmt.split(",")[0] == "csv":
        print('Missing or invalid --format option. Use --format=csv.')
        return 2
    fields = [f.strip() for f in query.split(",") if f.strip()]
    for field in fields:
        if field not in SMI_FIELDS:
            print(f'Field "{field}" is not a valid field to query.\n')
            return 2
    opts = fmt.split(",")[1:]
    if "noheader" not in opts:
        heads = [SMI_FIELDS[f][0] for f in fields]
        if "nounits" in opts:
            heads = [re.sub(r" \[.*\]$", "", h) for h in heads]
        print(", ".join(heads))
    getters = [SMI_FIELDS[f][1] for f in fields]
    print(", ".join(get(smi) if get else "[N/A]" for get in getters))
    return 0


def print_smi_table(smi):
    # the JetPack 6 table: Driver Version N/A, Memory-Usage "Not Supported", the rest N/A (docs/facts.md section 2).
    # A Thor profile changes the name and the driver version only; its other columns are unverified
    rule = "+" + "-" * 41 + "+" + "-" * 22 + "+" + "-" * 22 + "+"
    wide = "+" + "-" * 87 + "+"
    row = lambda a, b, c: f"|{a:<41}|{b:<22}|{c:<22}|"  # noqa: E731
    print(time.strftime("%a %b %d %H:%M:%S %Y") + "       ")
    print(wide)
    print(f"| NVIDIA-SMI {smi['version']:<23}Driver Version: {driver_version(smi):<13}CUDA Version: {smi['cuda']:<9}|")
    print(rule.replace("+", "|", 1)[:-1] + "+")
    print(row(" GPU  Name                 Persistence-M", " Bus-Id        Disp.A", " Volatile Uncorr. ECC"))
    print(row(" Fan  Temp   Perf          Pwr:Usage/Cap", "         Memory-Usage", " GPU-Util  Compute M."))
    print(row("", "", "               MIG M."))
    print("|" + "=" * 41 + "+" + "=" * 22 + "+" + "=" * 22 + "|")
    print(row(f"   0  {gpu_name(smi):<31}N/A ", " N/A              N/A", "                  N/A"))
    print(row(" N/A   N/A  N/A               N/A /  N/A", " Not Supported", "     N/A          N/A"))
    print(row("", "", "                  N/A"))
    print(rule)
    print()
    print(wide)
    print(f"|{' Processes:':<87}|")
    print(f"|{'  GPU   GI   CI        PID   Type   Process name                            GPU Memory':<87}|")
    print(f"|{'        ID   ID                                                             Usage':<87}|")
    print("|" + "=" * 87 + "|")
    print(f"|{'  No running processes found':<87}|")
    print(wide)


# ---------------------------------------------------------------- /proc/meminfo and jetson-sim-meminfo

def render_meminfo(profile, extra_used_bytes, swap_total_kb=None, desktop=None):
    """A /proc/meminfo text for this profile with `extra_used_bytes` allocated on top of the idle
    baseline. "Used" is MemTotal - MemAvailable, as tegrastats and free(1) count it. CPU and GPU share
    this memory (docs/facts.md section 1), so a loaded model shows here and nowhere else. `swap_total_kb`: the swap
    areas the board has on (None: the profile's figure); `desktop`: whether this boot runs the
    desktop (None: the profile's), which takes DESKTOP_MB of the baseline (docs/facts.md section 3)."""
    mem = profile["memory"]
    mb = 1024  # kB per MB
    total = mem["mem_total_mb"] * mb
    swap_total = mem["swap_total_mb"] * mb if swap_total_kb is None else swap_total_kb
    desktop = mem["desktop"] if desktop is None else desktop
    baseline = mem["baseline_used_mb"] - (DESKTOP_MB if mem["desktop"] and not desktop else 0)
    used = baseline * mb + max(0, int(extra_used_bytes)) // 1024
    floor = 8 * mb  # a full board keeps a few MB available; the rest of the demand goes to swap
    available = total - used
    swap_used = 0
    if available < floor:
        swap_used = min(swap_total, floor - available)
        available = floor
    cached = min(available // 3, total // 8)
    buffers = min(available // 50, 48 * mb)
    sreclaimable = min(available // 40, 96 * mb)
    free = max(floor // 2, available - cached - buffers - sreclaimable)
    shmem = min(cached, (96 if desktop else 12) * mb)
    cpus = jetson(profile).get("cpus", 8)
    sunreclaim, kstack, pagetables = used // 40, cpus * 2400, used // 90
    anon = max(0, used - sunreclaim - kstack - pagetables)
    active_file = cached // 2
    aarch64 = profile["arch"] == "aarch64"
    rows = [
        ("MemTotal", total), ("MemFree", free), ("MemAvailable", available), ("Buffers", buffers),
        ("Cached", cached), ("SwapCached", swap_used // 64),
        ("Active", anon * 2 // 3 + active_file), ("Inactive", anon - anon * 2 // 3 + cached - active_file + buffers),
        ("Active(anon)", anon * 2 // 3), ("Inactive(anon)", anon - anon * 2 // 3),
        ("Active(file)", active_file), ("Inactive(file)", cached - active_file + buffers),
        ("Unevictable", 0), ("Mlocked", 0), ("SwapTotal", swap_total), ("SwapFree", swap_total - swap_used),
        ("Dirty", 124), ("Writeback", 0), ("AnonPages", anon), ("Mapped", cached // 3), ("Shmem", shmem),
        ("KReclaimable", sreclaimable), ("Slab", sreclaimable + sunreclaim), ("SReclaimable", sreclaimable),
        ("SUnreclaim", sunreclaim), ("KernelStack", kstack), ("PageTables", pagetables),
        ("SecPageTables", 0), ("NFS_Unstable", 0), ("Bounce", 0), ("WritebackTmp", 0),
        ("CommitLimit", total // 2 + swap_total), ("Committed_AS", used * 2),
        ("VmallocTotal", 135288315904 if aarch64 else 34359738367), ("VmallocUsed", 38000 + cpus * 1500),
        ("VmallocChunk", 0), ("Percpu", cpus * 1024), ("HardwareCorrupted", 0), ("AnonHugePages", 0),
        ("ShmemHugePages", 0), ("ShmemPmdMapped", 0), ("FileHugePages", 0), ("FilePmdMapped", 0),
        ("CmaTotal", 0), ("CmaFree", 0),
    ]
    lines = [f"{key + ':':<16}{value:>8} kB" for key, value in rows]
    lines += [f"HugePages_{key + ':':<6}{0:>8}" for key in ("Total", "Free", "Rsvd", "Surp")]
    lines += [f"{'Hugepagesize:':<16}{2048:>8} kB", f"{'Hugetlb:':<16}{0:>8} kB"]
    if not aarch64:
        lines += [f"{'DirectMap4k:':<16}{262144:>8} kB", f"{'DirectMap2M:':<16}{total - 262144:>8} kB"]
    return "\n".join(lines) + "\n"


def lease_alive(path):
    """A `.lease` allocation counts while its owner holds the lock on it (it dies with the owner)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    return False


def allocated_bytes():
    total = 0
    try:
        names = sorted(os.listdir(p(MEM_D)))
    except FileNotFoundError:
        return 0
    for name in names:
        if name.endswith(".lease") and not lease_alive(p(f"{MEM_D}/{name}")):
            continue  # its process died: the kernel took the memory back
        text = read_text(f"{MEM_D}/{name}").strip()
        try:
            total += int(text)
        except ValueError:
            print(f"jetson-sim-meminfo: ignoring {MEM_D}/{name}: not an integer", file=sys.stderr)
    return total


def refresh_meminfo(profile):
    # IN PLACE, never by rename: the file is bind-mounted over /proc/meminfo, and a rename would
    # leave the mount on the old inode. One pwrite at offset 0, then truncate, so a reader never
    # sees an empty file; the lock serialises concurrent alloc/free.
    fd = os.open(p(MEMINFO), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        swaps = read_swaps() if os.path.exists(p(SWAPS)) else None
        target = read_text(BOOT_TARGET).strip()
        desktop = profile["memory"]["desktop"] and target == "graphical.target" if target else None
        data = render_meminfo(profile, allocated_bytes(), None if swaps is None else sum(s["size"] for s in swaps),
                              desktop).encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def jetson_sim_meminfo(args):
    usage = "usage: jetson-sim-meminfo [alloc NAME BYTES | free NAME | watch [SECONDS]]  " + SIM_NOTE
    if args and args[0] in ("-h", "--help"):
        print(usage)
        return 0
    if args and args[0] == "watch":  # the board's memory bookkeeping: notices dead owners' leases
        interval = float(args[1]) if len(args) > 1 else 1.0
        while True:
            refresh_meminfo(load_profile())
            refresh_uptime()
            time.sleep(interval)
    if args and (args[0] not in ("alloc", "free") or len(args) != (3 if args[0] == "alloc" else 2)):
        return fail("jetson-sim-meminfo", usage, 2)
    if args:
        name = args[1]
        if not re.fullmatch(r"[A-Za-z0-9_.:@+-]+", name) or name.startswith("."):
            return fail("jetson-sim-meminfo", f"bad allocation name {name!r}", 2)
        path = p(f"{MEM_D}/{name}")
        if args[0] == "alloc":
            if not args[2].isdigit():
                return fail("jetson-sim-meminfo", f"BYTES must be a non-negative integer, got {args[2]!r}", 2)
            os.makedirs(p(MEM_D), exist_ok=True)
            with open(path + ".tmp", "w") as f:
                f.write(args[2] + "\n")
            os.replace(path + ".tmp", path)  # mem.d files are not bind-mounted: rename is fine here
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    refresh_meminfo(load_profile())
    return 0


def read_meminfo():
    values = {}
    for line in read_text("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        if rest.split():
            values[key] = int(rest.split()[0])
    return values


def refresh_uptime():
    """The board's /proc/uptime (`seconds idle-seconds`), counted from this boot, in place (it is
    bind-mounted). pyinfra's server.reboot waits for it to fall: the host's own never would."""
    try:
        booted = float(read_text(BOOTED).strip())
    except ValueError:
        return
    up = max(0.0, time.time() - booted)
    try:
        fd = os.open(p(UPTIME), os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        data = f"{up:.2f} {up * 0.9:.2f}\n".encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


# ---------------------------------------------------------------- swap: /proc/swaps, swapon, swapoff
# (docs/facts.md section 3)

# Never the kernel's swapon: a board is a namespace of the host, so a real swapon would give the whole
# machine swap on a board's disk. The board's swap table lives in SWAPS, which init.sh binds over
# /proc/swaps, and MemTotal's swap lines follow it.
SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority"


def read_swaps():
    swaps = []
    for line in read_text(SWAPS).splitlines()[1:]:
        words = line.split()
        if len(words) == 5:
            swaps.append({"path": words[0].replace("\\040", " "), "type": words[1], "size": int(words[2]),
                          "used": int(words[3]), "priority": int(words[4])})
    return swaps


def write_swaps(swaps):
    # /proc/swaps pads the name to 40 columns and escapes spaces (\040)
    lines = [SWAPS_HEADER] + [f"{s['path'].replace(' ', chr(92) + '040'):<40}{s['type']}\t\t{s['size']}\t\t"
                              f"{s['used']}\t\t{s['priority']}" for s in swaps]
    fd = os.open(p(SWAPS), os.O_WRONLY | os.O_CREAT, 0o644)  # in place: it is bind-mounted
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = ("\n".join(lines) + "\n").encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)
    refresh_meminfo(load_profile())


def swap_area_kb(path):
    """The usable size of a swapfile mkswap made (its first page is the header), or None when `path`
    is no swap area: mkswap writes SWAPSPACE2 at the end of the first page."""
    try:
        with open(p(path), "rb") as f:
            head = f.read(4096)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return None
    return size // 1024 - 4 if len(head) == 4096 and head[-10:] == b"SWAPSPACE2" else None


def fstab_swaps():
    return [line.split()[0] for line in read_text(FSTAB).splitlines()
            if len(line.split()) >= 3 and not line.lstrip().startswith("#") and line.split()[2] == "swap"]


def swapon(args):
    usage = "usage: swapon [-a | --show | -s | PATH...]  " + SIM_NOTE
    if not os.path.exists(p(SWAPS)):
        return fail("swapon", f"this simulated board keeps no swap table {SIM_NOTE}")
    swaps = read_swaps()
    if args in ([], ["--show"], ["-s"], ["--summary"]):
        if args in (["-s"], ["--summary"]):
            print(read_text(SWAPS), end="")
        elif swaps:
            print("NAME       TYPE      SIZE USED PRIO")
            for s in swaps:
                print(f"{s['path']} {s['type']} {s['size'] // 1024}M {s['used'] // 1024}M {s['priority']}")
        return 0
    if args in (["-h"], ["--help"]):
        print(usage)
        return 0
    paths = fstab_swaps() if args == ["-a"] else args
    if any(path.startswith("-") for path in paths):
        return fail("swapon", usage, 2)
    code = 0
    for path in paths:
        if any(s["path"] == path for s in swaps):
            if args != ["-a"]:  # -a skips what is on already, as the real one does
                code = fail("swapon", f"{path}: swapon failed: Device or resource busy", 255)
            continue
        size = swap_area_kb(path)
        if size is None:
            code = fail("swapon", f"{path}: read swap header failed", 255)
            continue
        lowest = min([s["priority"] for s in swaps if s["priority"] < 0], default=-1)
        swaps.append({"path": path, "type": "file", "size": size, "used": 0, "priority": lowest - 1})
    write_swaps(swaps)
    return code


def swapoff(args):
    if not os.path.exists(p(SWAPS)):
        return fail("swapoff", f"this simulated board keeps no swap table {SIM_NOTE}")
    swaps = read_swaps()
    if args == ["-a"]:
        write_swaps([])
        return 0
    if not args or any(path.startswith("-") for path in args):
        return fail("swapoff", "usage: swapoff [-a | PATH...]  " + SIM_NOTE, 16)
    code = 0
    for path in args:
        if not any(s["path"] == path for s in swaps):
            code = fail("swapoff", f"{path}: swapoff failed: Invalid argument", 4)
        swaps = [s for s in swaps if s["path"] != path]
    write_swaps(swaps)
    return code


def nvzramconfig(args):
    """JetPack's /etc/systemd/nvzramconfig.sh: one zram swap per CPU core, half of RAM in all (about
    3.7 GiB on an Orin Nano, docs/facts.md section 3; one device per core and priority 5 are unverified). Here the
    profile's swap_total_mb is that half."""
    if args not in (["start"], ["stop"]):
        return fail("nvzramconfig.sh", "usage: nvzramconfig.sh start|stop  " + SIM_NOTE, 2)
    if not os.path.exists(p(SWAPS)):
        return fail("nvzramconfig.sh", f"this simulated board keeps no swap table {SIM_NOTE}")
    swaps = [s for s in read_swaps() if not s["path"].startswith("/dev/zram")]
    if args == ["start"]:
        profile = load_profile()
        devices = jetson(profile).get("cpus", 4)
        total = profile["memory"]["swap_total_mb"] * 1024
        for i in range(devices):
            size = total // devices + (total % devices if i == devices - 1 else 0)
            swaps.insert(i, {"path": f"/dev/zram{i}", "type": "partition", "size": size, "used": 0, "priority": 5})
    write_swaps(swaps)
    return 0


# ---------------------------------------------------------------- tegrastats (docs/facts.md section 2)

# rail -> (idle mW, extra mW per GR3D percent). Idle values of VDD_IN/VDD_CPU_GPU_CV/VDD_SOC and
# VDD_GPU_SOC are the recorded lines (docs/facts.md section 2); the others and every slope are unverified. AGX
# Xavier's rails (GPU ... SYS5V) idle as in a third-party JetPack 4 line; Thor's (VDD_GPU,
# VDD_CPU_SOC_MSS) as third-party readings say; both unverified.
RAILS = {
    "VDD_IN": (5263, 55), "VDD_CPU_GPU_CV": (717, 42), "VDD_SOC": (1794, 9),
    "VDD_GPU_SOC": (3193, 95), "VDD_CPU_CV": (810, 18), "VIN_SYS_5V0": (4420, 12), "VDDQ_VDD2_1V8AO": (655, 14),
    "GPU": (463, 150), "CPU": (618, 20), "SOC": (2936, 12), "CV": (0, 0), "VDDRQ": (309, 10), "SYS5V": (3306, 15),
    "VDD_GPU": (0, 400), "VDD_CPU_SOC_MSS": (6510, 40),
}


def tegrastats_line(profile, averages, count):
    """One line in the JetPack 6 format, e.g. `05-05-2025 06:05:39 RAM 2639/7620MB (lfb 9x4MB)
    SWAP 0/3810MB (cached 0MB) CPU [1%@729,...] GR3D_FREQ 0% cpu@44.156C ... VDD_IN
    5263mW/5263mW ...` (docs/facts.md section 2, field for field as recorded)."""
    mem = read_meminfo()
    total = mem.get("MemTotal", 0)
    used = (total - mem.get("MemAvailable", total)) // 1024
    swap_used = (mem.get("SwapTotal", 0) - mem.get("SwapFree", 0)) // 1024
    lfb = max(1, mem.get("MemFree", 0) // 1024 // 512)  # largest free blocks: fragmentation, plausible only
    try:
        gr3d = max(0, min(99, int(read_text(GR3D, "0").strip() or 0)))
    except ValueError:
        gr3d = 0
    info = jetson(profile)
    cpus = ",".join(f"{random.randint(0, 4) + gr3d // 12}%@729" for _ in range(info.get("cpus", 6)))
    base = 44.0 + gr3d * 0.16
    temps = {
        "cpu": base + random.uniform(-0.4, 0.4), "soc2": base - 1.4 + random.uniform(-0.3, 0.3),
        "gpu": base + 1.8 + gr3d * 0.05 + random.uniform(-0.3, 0.3),
    }
    temps["tj"] = max(temps.values())
    rails = []
    for rail in info.get("tegrastats_rails", []):
        idle, slope = RAILS.get(rail, (1000, 10))
        now = int(idle + slope * gr3d + random.uniform(-0.02, 0.02) * idle)
        averages[rail] = (averages.get(rail, 0) * count + now) // (count + 1)  # avg since start
        rails.append(f"{rail} {now}mW/{averages[rail]}mW")
    return " ".join([
        time.strftime("%m-%d-%Y %H:%M:%S"),
        f"RAM {used}/{total // 1024}MB (lfb {lfb}x4MB)",
        f"SWAP {swap_used}/{mem.get('SwapTotal', 0) // 1024}MB (cached {mem.get('SwapCached', 0) // 1024}MB)",
        f"CPU [{cpus}]", f"GR3D_FREQ {gr3d}%",
        *(f"{name}@{value:.3f}C" for name, value in temps.items()), *rails,
    ])


def tegrastats(args):
    usage = "usage: tegrastats [--interval MS] [--logfile FILE] [--start] [--stop]  " + SIM_NOTE
    interval, logfile, start = 1000, None, False
    it = iter(args)
    for arg in it:
        name, eq, value = arg.partition("=")
        if name in ("--interval", "--logfile"):
            value = value if eq else next(it, None)
            if value is None:
                return fail("tegrastats", f"{name} needs a value\n{usage}", 2)
            if name == "--logfile":
                logfile = value
            elif value.isdigit() and int(value) > 0:
                interval = int(value)
            else:
                return fail("tegrastats", f"bad interval {value!r}", 2)
        elif arg == "--stop":
            return tegrastats_stop()
        elif arg == "--start":
            start = True
        elif arg in ("--verbose", "--readall"):
            pass
        elif arg in ("-h", "--help"):
            print(usage)
            return 0
        else:
            return fail("tegrastats", f"unknown option {arg!r}\n{usage}", 2)
    profile = load_profile()
    if start and os.fork():  # --start runs in the background, like the real one
        return 0
    if start:
        os.setsid()
    # Ctrl-C / SIGTERM end the loop quietly; a closed pipe (`| head`) ends it like a C tool
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    limit = int(os.environ.get("JETSON_SIM_TEGRASTATS_COUNT", "0") or 0)
    # the log file is closed with the loop; stdout is not ours to close
    with open(logfile, "a") if logfile else contextlib.nullcontext(sys.stdout) as out:
        if logfile or start:  # so `tegrastats --stop` can find this instance
            os.makedirs(os.path.dirname(p(TEGRASTATS_PID)), exist_ok=True)
            with open(p(TEGRASTATS_PID), "w") as f:
                f.write(f"{os.getpid()}\n")
        averages: dict[str, int] = {}  # rail -> mW averaged since start
        count = 0
        try:
            while True:
                out.write(tegrastats_line(profile, averages, count) + "\n")
                out.flush()
                count += 1
                if limit and count >= limit:
                    return 0
                time.sleep(interval / 1000)
        finally:
            if read_text(TEGRASTATS_PID).strip() == str(os.getpid()):
                os.unlink(p(TEGRASTATS_PID))


def tegrastats_stop():
    try:
        pid = int(read_text(TEGRASTATS_PID).strip())
        os.kill(pid, signal.SIGTERM)
    except (ValueError, ProcessLookupError):
        pass
    try:
        os.unlink(p(TEGRASTATS_PID))
    except FileNotFoundError:
        pass
    return 0


# ---------------------------------------------------------------- nvpmodel (docs/facts.md section 3)

def power_models():
    """(modes {id: name}, default id) from /etc/nvpmodel.conf; ids differ per board (docs/facts.md section 3)."""
    text = read_text(NVPMODEL_CONF)
    modes = {int(i): name for i, name in re.findall(r"<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=(\S+?)\s*>", text)}
    default = re.search(r"<\s*PM_CONFIG\s+DEFAULT=(\d+)\s*>", text)
    return modes, int(default.group(1)) if default else min(modes, default=0)


def cores_online():
    """{mode id: CPU cores the mode keeps online} from the CPU_ONLINE lines of each POWER_MODEL block."""
    cores: dict[int, int] = {}
    current = None
    for line in read_text(NVPMODEL_CONF).splitlines():
        block = re.match(r"\s*<\s*(\w+)(?:\s+ID=(\d+))?", line)
        if block:
            current = int(block.group(2)) if block.group(1) == "POWER_MODEL" and block.group(2) else None
        elif current is not None and line.split()[:1] == ["CPU_ONLINE"] and len(line.split()) == 3:
            cores[current] = cores.get(current, 0) + (line.split()[2] == "1")
    return cores


def current_mode(default):
    match = re.search(r"pmode:(\d+)", read_text(NVPMODEL_STATUS))
    return int(match.group(1)) if match else default


def nvpmodel(args):
    usage = "usage: nvpmodel [-q [--verbose]] [-m ID] [-p --verbose]  " + SIM_NOTE
    modes, default = power_models()
    if not modes:
        return fail("nvpmodel", f"NVPM ERROR: no power models in {NVPMODEL_CONF}")
    verbose = "--verbose" in args
    args = [a for a in args if a != "--verbose"]
    if args[:1] == ["-m"] and len(args) == 2:
        if not args[1].isdigit() or int(args[1]) not in modes:
            return fail("nvpmodel", f"NVPM ERROR: Invalid power mode ID {args[1]!r}; "
                                    f"valid: {', '.join(f'{i}={n}' for i, n in sorted(modes.items()))}")
        wanted, cores = int(args[1]), cores_online()
        before = current_mode(default)
        os.makedirs(os.path.dirname(p(NVPMODEL_STATUS)), exist_ok=True)
        with open(p(NVPMODEL_STATUS), "w") as f:
            f.write(f"pmode:{wanted:04d}\n")
        # a mode that keeps other CPU cores online applies at the next boot, and nvpmodel offers to
        # reboot now (unverified: wording and behaviour are not in the facts file)
        if before != wanted and cores.get(before) != cores.get(wanted):
            print(f"NVPM WARN: Reboot required for changing to this power mode: {wanted}")
            print("NVPM WARN: DO YOU WANT TO REBOOT NOW? enter YES/yes to confirm:", flush=True)
            if sys.stdin.readline().strip() in ("YES", "yes"):
                os.execvp("systemctl", ["systemctl", "reboot"])
        return 0
    if args == ["-q"]:
        current = current_mode(default)
        if verbose:
            print(f"NVPM VERB: Config file: {NVPMODEL_CONF}")
        print(f"NV Power Mode: {modes.get(current, 'UNKNOWN')}")
        print(current)
        return 0
    if args == ["-p"]:
        print(f"NVPM VERB: Config file: {NVPMODEL_CONF}")
        for i, name in sorted(modes.items()):
            print(f"NVPM VERB: POWER_MODEL: ID={i} NAME={name}")
        print(f"NVPM VERB: DEFAULT: ID={default}")
        return 0
    if args in (["-h"], ["--help"]):
        print(usage)
        return 0
    return fail("nvpmodel", usage, 2)


def jetson_clocks(args):
    """Pins CPU, GPU and EMC clocks to the power mode's maximum until the next boot (docs/facts.md section 3). The
    simulated board has no clocks: it records that they are pinned, for `--show`. The --show lines
    are unverified (the facts file records none)."""
    modes, default = power_models()
    if not modes:
        return fail("jetson_clocks", "not a Jetson: no /etc/nvpmodel.conf")
    if args in (["-h"], ["--help"]):
        print(f"usage: jetson_clocks [--show | --restore]  {SIM_NOTE}")
        return 0
    if args == ["--show"]:
        pinned = read_text(CLOCKS).strip()
        print(f"NV Power Mode: {modes.get(current_mode(default), 'UNKNOWN')}")
        print(f"clocks: {'pinned to the maximum (' + pinned + ')' if pinned else 'governed by the power mode'}")
        return 0
    if args == ["--restore"]:
        try:
            os.unlink(p(CLOCKS))
        except FileNotFoundError:
            pass
        return 0
    if args:
        return fail("jetson_clocks", f"unknown option {args[0]!r}", 2)
    os.makedirs(os.path.dirname(p(CLOCKS)), exist_ok=True)
    with open(p(CLOCKS), "w") as f:
        f.write(f"{modes.get(current_mode(default), 'UNKNOWN')}\n")
    return 0


# ---------------------------------------------------------------- nvcc (docs/facts.md section 1)

def nvcc(args):
    cuda = jetson(load_profile()).get("cuda")
    if not cuda:
        return fail("nvcc", "command not found", 127)
    if args and args[0] in ("--version", "-V"):
        year = cuda["built"].rsplit("_", 1)[-1]
        print("nvcc: NVIDIA (R) Cuda compiler driver")
        print(f"Copyright (c) 2005-{year} NVIDIA Corporation")
        print(f"Built on {cuda['built']}")
        print(f"Cuda compilation tools, release {cuda['release']}, V{cuda['version']}")
        print(f"Build {cuda['build']}")
        return 0
    if args and args[0] in ("-h", "--help"):
        print(f"usage: nvcc --version  {SIM_NOTE}: it cannot compile")
        return 0
    if not args:
        return fail("nvcc fatal   ", "No input files specified; use option --help for more information")
    return fail("nvcc fatal   ", "this simulated nvcc (jetson-sim) cannot compile")


# ---------------------------------------------------------------- uname / arch (coreutils-like)

UNAME_FIELDS = (  # (short flag, long flag), in coreutils' output order
    ("s", "kernel-name"), ("n", "nodename"), ("r", "kernel-release"), ("v", "kernel-version"),
    ("m", "machine"), ("p", "processor"), ("i", "hardware-platform"), ("o", "operating-system"),
)


def uname_values():
    real = os.uname()
    try:
        profile = load_profile()
        machine, release = profile["arch"], profile["kernel_release"]
    except (OSError, ValueError, KeyError):  # never break the board's scripts over a missing profile
        machine, release = real.machine, real.release
    return dict(zip("snrvmpio", (real.sysname, real.nodename, release, real.version,
                                 machine, machine, machine, "GNU/Linux"), strict=True))


def uname(args):
    wanted: set[str] = set()
    for arg in args:
        if arg == "--help":
            print(f"Usage: uname [OPTION]...  {SIM_NOTE}\n  -a, --all  -s -n -r -v -m -p -i -o")
            return 0
        if arg == "--version":
            print(f"uname (jetson-sim) {SIM_NOTE}")
            return 0
        if arg == "--all":
            wanted.update("snrvmpio")
        elif arg.startswith("--"):
            flags = [s for s, long in UNAME_FIELDS if long == arg[2:]]
            if not flags:
                print(f"uname: unrecognized option '{arg}'\nTry 'uname --help' for more information.", file=sys.stderr)
                return 1
            wanted.update(flags)
        elif arg.startswith("-") and len(arg) > 1:
            for flag in arg[1:]:
                if flag == "a":
                    wanted.update("snrvmpio")
                elif flag in "snrvmpio":
                    wanted.add(flag)
                else:
                    print(f"uname: invalid option -- '{flag}'\nTry 'uname --help' for more information.",
                          file=sys.stderr)
                    return 1
        else:
            print(f"uname: extra operand '{arg}'\nTry 'uname --help' for more information.", file=sys.stderr)
            return 1
    values = uname_values()
    print(" ".join(values[f] for f in "snrvmpio" if f in (wanted or {"s"})))
    return 0


def arch(args):
    if args:
        if args[0] in ("--help", "--version"):
            print(f"Usage: arch  (prints uname -m)  {SIM_NOTE}")
            return 0
        return fail("arch", f"extra operand '{args[0]}'", 1)
    return uname(["-m"])


# ---------------------------------------------------------------- nvidia-container-runtime

# What the GPU is to a container on a simulated board: the board's memory accounting (a loaded
# model takes the board's RAM), its profile (bandwidth) and the GPU marker. Like the real runtime,
# which adds the GPU device nodes and JetPack libraries, it edits the OCI spec at `create`, so only
# containers started with `--runtime nvidia` see them (docs/facts.md section 5: JETSON_JETPACK + nvidia).
GPU_MOUNTS = (
    ("/run/jetson-sim", "/run/jetson-sim", "rw"),
    ("/var/lib/jetson-sim", "/var/lib/jetson-sim", "rw"),
    ("/var/lib/jetson-sim/meminfo", "/proc/meminfo", "ro"),
    ("/etc/jetson-sim", "/etc/jetson-sim", "ro"),
    ("/usr/lib/jetson-sim/simtools.py", "/usr/local/bin/jetson-sim-meminfo", "ro"),
)


def inject_gpu(bundle):
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    have = {m.get("destination") for m in spec.get("mounts", [])}
    for source, dest, mode in GPU_MOUNTS:
        if dest not in have and os.path.exists(source):
            spec.setdefault("mounts", []).append(
                {"destination": dest, "type": "bind", "source": source, "options": ["rbind", mode]})
    with open(path + ".tmp", "w") as f:
        json.dump(spec, f)
    os.replace(path + ".tmp", path)


def nvidia_container_runtime(args):
    if "create" in args:
        bundle = args[args.index("--bundle") + 1] if "--bundle" in args else (
            args[args.index("-b") + 1] if "-b" in args else ".")
        inject_gpu(bundle)
    for runc in ("/usr/bin/runc", "/usr/sbin/runc"):
        if os.path.exists(runc):
            os.execv(runc, ["runc", *args])
    return fail("nvidia-container-runtime", "runc not found")


# ---------------------------------------------------------------- lsb_release (Ubuntu's)

LSB_RELEASE = "/etc/lsb-release"  # DISTRIB_* of the profile's Ubuntu, written by seed.py


def lsb_release(args):
    """Ubuntu's `lsb_release -a | -i | -d | -r | -c [-s]` from /etc/lsb-release: a Jetson board's
    Ubuntu (docs/facts.md section 1 table), over the simulated board's Debian base."""
    info = dict(re.findall(r'^DISTRIB_(\w+)="?(.*?)"?$', read_text(LSB_RELEASE), re.M))
    fields = (("i", "id", "Distributor ID", "ID"), ("d", "description", "Description", "DESCRIPTION"),
              ("r", "release", "Release", "RELEASE"), ("c", "codename", "Codename", "CODENAME"))
    wanted: set[str] = set()
    short, modules = False, not args
    for arg in args:
        flags = [arg[2:]] if arg.startswith("--") else list(arg[1:]) if arg.startswith("-") else [arg]
        for flag in flags:
            if flag in ("h", "help"):
                print(f"Usage: lsb_release [options]  {SIM_NOTE}\n  -v -i -d -r -c -a -s")
                return 0
            if flag in ("s", "short"):
                short = True
            elif flag in ("a", "all", "v", "version"):
                modules = True
                wanted.update(f[0] for f in fields if flag in ("a", "all"))
            elif matches := [f[0] for f in fields if flag in f[:2]]:
                wanted.update(matches)
            else:
                return fail("lsb_release", f"error: no such option: {arg}", 2)
    if modules and not short:  # -v, -a or nothing asked: the LSB modules line, on stderr
        print("No LSB modules are available.", file=sys.stderr)
    for short_flag, _, label, key in fields:
        if short_flag in wanted:
            value = info.get(key, "n/a")
            print(value if short else f"{label}:\t{value}")
    return 0


TOOLS = {
    "lsb_release": lsb_release,
    "nvidia-smi": nvidia_smi, "tegrastats": tegrastats, "nvpmodel": nvpmodel, "nvcc": nvcc,
    "uname": uname, "arch": arch, "jetson-sim-meminfo": jetson_sim_meminfo,
    "nvidia-container-runtime": nvidia_container_runtime, "jetson_clocks": jetson_clocks,
    "nvzramconfig.sh": nvzramconfig, "swapon": swapon, "swapoff": swapoff,
}


def main(argv):
    tool, args = os.path.basename(argv[0]), argv[1:]
    if tool not in TOOLS and args and args[0] in TOOLS:  # `simtools.py <tool> ...`
        tool, args = args[0], args[1:]
    if tool not in TOOLS:
        return fail("simtools.py", f"call me as one of: {', '.join(TOOLS)}  {SIM_NOTE}", 2)
    return TOOLS[tool](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
