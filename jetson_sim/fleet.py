"""A fleet of simulated Jetson boards on one Linux machine.

A board is: its own network namespace with one address on the fleet's private bridge; its own
mount/UTS/PID/cgroup namespaces; an overlayfs root (the cached base image below, the board's disk
above); its own systemd as PID 1, so `systemctl`, `docker.service` and reboots are real. Its disk is a
sparse ext4 image of the profile's size, so a full disk is a real ENOSPC, and it outlives reboots.

State lives under $JETSON_SIM_HOME/fleets/<fleet>/ (default /var/lib/jetson-sim): `fleet.json` is
what `inventories/sim.py` reads. Everything the fleet creates on the host carries the fleet's bridge
name, so fleets of parallel runs never meet.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import base, seed
from .profiles import load_profile
from .upstream.services import Upstream

BOARD_DIR = Path(__file__).parent / "board"
SUBNET_POOL = ipaddress.ip_network("10.231.0.0/16")  # private /24s are carved from here, never elsewhere


class SimError(RuntimeError):
    """A simulator failure with a one-line explanation."""


def home() -> Path:
    return Path(os.environ.get("JETSON_SIM_HOME", "/var/lib/jetson-sim"))


def run(*cmd: str, check: bool = True, capture: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, text=True, capture_output=capture, **kw)
    if check and proc.returncode != 0:
        raise SimError(f"{' '.join(cmd)}: {(proc.stderr or proc.stdout or '').strip()}")
    return proc


def cgroup_root() -> Path:
    """The host's cgroup v2 hierarchy (pure v2, or the `unified` mount of a hybrid layout)."""
    for path in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        if (path / "cgroup.controllers").exists():
            return path
    raise SimError("no cgroup v2 hierarchy on this host (systemd boards need one)")


@dataclass
class Board:
    name: str
    idx: int
    profile: str
    ip: str
    docker: bool = True

    @property
    def mac(self) -> str:
        # fixed per address, so the controller's ARP entry stays valid across a reboot
        return "02:00:" + ":".join(f"{int(o):02x}" for o in self.ip.split("."))


@dataclass
class Fleet:
    name: str = "sim"
    bridge: str = ""
    subnet: str = ""
    boards: dict[str, Board] = field(default_factory=dict)

    # ---- paths and names -------------------------------------------------------------------
    @property
    def dir(self) -> Path:
        return home() / "fleets" / self.name

    @property
    def key(self) -> Path:
        return self.dir / "keys" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.subnet).hosts()))

    @property
    def cgroup(self) -> Path:
        return cgroup_root() / "jetson-sim" / self.bridge

    def board_dir(self, name: str) -> Path:
        return self.dir / "boards" / name

    def netns(self, board: Board) -> str:
        return f"{self.bridge}-{board.name}"

    def veth(self, board: Board) -> str:
        return f"{self.bridge}v{board.idx}"

    # ---- state ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, name: str = "sim") -> Fleet:
        path = home() / "fleets" / name / "fleet.json"
        if not path.exists():
            return cls(name=name)
        data = json.loads(path.read_text())
        data.pop("ssh", None)
        boards = {b["name"]: Board(**b) for b in data.pop("boards")}
        return cls(boards=boards, **data)

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["boards"] = [asdict(b) for b in self.boards.values()]
        data["ssh"] = {"key": str(self.key), "known_hosts": str(self.known_hosts), "user": "root"}
        tmp = self.dir / "fleet.json.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.rename(self.dir / "fleet.json")

    def board(self, name: str) -> Board:
        if name not in self.boards:
            raise SimError(f"no board {name!r} in fleet {self.name!r}; boards: {', '.join(self.boards) or 'none'}")
        return self.boards[name]

    # ---- network -------------------------------------------------------------------------------
    def _pick_subnet(self) -> str:
        taken = run("ip", "-4", "route", "show", "table", "all").stdout + run("ip", "-4", "addr").stdout
        others = [json.loads(p.read_text()).get("subnet") for p in (home() / "fleets").glob("*/fleet.json")]
        for net in SUBNET_POOL.subnets(new_prefix=24):
            if str(net) not in others and str(net.network_address)[:-1] not in taken:
                return str(net)
        raise SimError("no free /24 left in " + str(SUBNET_POOL))

    def net_up(self) -> None:
        if not self.bridge:
            # IFNAMSIZ is 15 and veths add "v<idx>": a short name that is unique per fleet name
            self.bridge = "js" + hashlib.sha1(self.name.encode()).hexdigest()[:6]
        if not self.subnet:
            # two fleets coming up at once (the test lane's workers) must not pick the same /24: the pick
            # and its claim (this fleet's fleet.json) happen under one lock
            lock_path = home() / "fleets" / ".subnets.lock"
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            with lock_path.open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self.subnet = self._pick_subnet()
                self.save()
        if run("ip", "link", "show", self.bridge, check=False).returncode != 0:
            prefix = ipaddress.ip_network(self.subnet).prefixlen
            run("ip", "link", "add", self.bridge, "type", "bridge")
            run("ip", "addr", "add", f"{self.gateway}/{prefix}", "dev", self.bridge)
            run("ip", "link", "set", self.bridge, "up")
        # if the bridge is ever gone, the fleet's packets die here instead of leaving the machine
        run("ip", "route", "replace", "unreachable", self.subnet, "metric", "4000")
        self.cgroup.mkdir(parents=True, exist_ok=True)
        _raise_inotify_limit()
        self.key.parent.mkdir(parents=True, exist_ok=True)
        if not self.key.exists():
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"jetson-sim-{self.name}", "-f", str(self.key))
        self.known_hosts.touch()

    def _link_board(self, board: Board) -> None:
        ns, veth = self.netns(board), self.veth(board)
        run("ip", "netns", "del", ns, check=False)
        run("ip", "link", "del", veth, check=False)  # netns teardown is asynchronous: "File exists"
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "address", board.mac, "netns", ns)
        run("ip", "link", "set", veth, "master", self.bridge, "up")
        prefix = ipaddress.ip_network(self.subnet).prefixlen
        run("ip", "-n", ns, "addr", "add", f"{board.ip}/{prefix}", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "link", "set", "eth0", "up")  # no default route: only the bridge is reachable

    # ---- disks and first boot --------------------------------------------------------------------
    def _mount_disk(self, board: Board, profile: dict) -> Path:
        bdir = self.board_dir(board.name)
        disk, image = bdir / "disk", bdir / "disk.img"
        disk.mkdir(parents=True, exist_ok=True)
        if not image.exists():
            with open(image, "wb") as f:
                f.truncate(int(profile["disk_gb"]) * 10**9)  # sparse: only written blocks use host disk
            # -m 0: no blocks reserved for root, so a full disk is full for the deploy (run as root) too
            run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1",
                "-L", board.name[:16], str(image))
        if run("mountpoint", "-q", str(disk), check=False).returncode != 0:
            run("mount", "-o", "loop", str(image), str(disk))
        return disk

    def _first_boot_files(self, board: Board, profile: dict, disk: Path, lower: Path) -> None:
        upper = disk / "upper"
        if (disk / "seeded").exists():
            return
        for sub in ("upper", "work", "docker"):
            (disk / sub).mkdir(exist_ok=True)
        (upper / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
        (upper / "root/.ssh").mkdir(parents=True, exist_ok=True, mode=0o700)
        (upper / "etc/hostname").write_text(board.name + "\n")
        upstream = Upstream(self)
        (upper / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {board.name}\n"
                                         + upstream.board_files().pop("/etc/jetson-sim/hosts"))
        (upper / "etc/machine-id").write_text(os.urandom(16).hex() + "\n")
        hostkey = upper / "etc/ssh/ssh_host_ed25519_key"
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", board.name, "-f", str(hostkey))
        shutil.copy(f"{self.key}.pub", upper / "root/.ssh/authorized_keys")
        (upper / "etc/ssh/sshd_config.d/jetson-sim.conf").write_text(
            "HostKey /etc/ssh/ssh_host_ed25519_key\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UseDNS no\nMaxStartups 100:30:200\n"
        )
        seed.seed_board(profile, upper, lower)
        for path, text in upstream.board_files().items():
            if path != "/etc/jetson-sim/hosts":
                (upper / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
                (upper / path.lstrip("/")).write_text(text)
        if profile["docker"]["installed"]:  # the site's Docker Hub mirror, as an admin would add it
            daemon_json = upper / "etc/docker/daemon.json"
            config = json.loads(daemon_json.read_text()) if daemon_json.exists() else {}
            daemon_json.parent.mkdir(parents=True, exist_ok=True)
            daemon_json.write_text(json.dumps({**config, **upstream.docker_daemon_keys()}, indent=4) + "\n")
        if not board.docker:  # a board of many without dockerd: keep the image's docker disabled
            for unit in ("multi-user.target.wants/docker.service", "sockets.target.wants/docker.socket"):
                (upper / "etc/systemd/system" / unit).unlink(missing_ok=True)
        (disk / "seeded").write_text(board.profile + "\n")
        self._trust_host_key(board, hostkey)

    def _trust_host_key(self, board: Board, hostkey: Path) -> None:
        pub = " ".join(Path(f"{hostkey}.pub").read_text().split()[:2])
        lines = [ln for ln in self.known_hosts.read_text().splitlines() if not ln.startswith(board.ip + " ")]
        tmp = self.known_hosts.with_suffix(".tmp")
        tmp.write_text("\n".join([*lines, f"{board.ip} {pub}"]) + "\n")
        tmp.rename(self.known_hosts)

    # ---- power -----------------------------------------------------------------------------------
    def _launcher_pid(self, board: Board) -> int | None:
        pidfile = self.board_dir(board.name) / "launcher.pid"
        try:
            pid = int(pidfile.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:  # only our launcher, never a recycled PID
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            return None
        return pid if str(self.board_dir(board.name)).encode() in cmdline else None

    def power_on(self, board: Board) -> None:
        profile = load_profile(board.profile)
        lower = base.ensure_base()
        disk = self._mount_disk(board, profile)
        self._first_boot_files(board, profile, disk, lower)
        self._link_board(board)
        cg = self.cgroup / board.name
        cg.mkdir(parents=True, exist_ok=True)
        bdir = self.board_dir(board.name)
        with open(bdir / "board.log", "ab") as log:
            proc = subprocess.Popen(
                [str(BOARD_DIR / "launcher.sh"), str(cg), self.netns(board), board.name, str(bdir), str(lower)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        (bdir / "launcher.pid").write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + 5
        while self._launcher_pid(board) is None:  # until the fork has exec'd the launcher
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SimError(f"{board.name}: launcher did not start (see {bdir}/board.log)")
            time.sleep(0.01)

    def power_off(self, board: Board) -> None:
        """Cut the power: every process of the board dies at once; the disk stays."""
        pid = self._launcher_pid(board)
        if pid:
            os.kill(pid, signal.SIGKILL)  # first, so it cannot boot the board again
            try:
                os.waitpid(pid, 0)  # our own child when this process powered the board on
            except ChildProcessError:
                pass
        cg = self.cgroup / board.name
        deadline = time.monotonic() + 15
        while cg.exists():
            procs = _cgroup_pids(cg)
            for p in procs:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if not procs and _rmdir_tree(cg):
                break
            if time.monotonic() > deadline:
                raise SimError(f"{board.name}: processes still alive in {cg} after 15 s")
            time.sleep(0.05)
        (self.board_dir(board.name) / "launcher.pid").unlink(missing_ok=True)
        run("ip", "link", "del", self.veth(board), check=False)  # now: netns removal drops it only later
        run("ip", "netns", "del", self.netns(board), check=False)
        run("ip", "neigh", "flush", "to", board.ip, "dev", self.bridge, check=False)

    def running(self, board: Board) -> bool:
        return self._launcher_pid(board) is not None

    def pid1(self, board: Board) -> int:
        """Host PID of the board's systemd (launcher -> unshare -> init)."""
        pid = self._launcher_pid(board) or 0  # 0: not running
        for _ in range(2):
            children = _children(pid) if pid else []
            if not children:
                raise SimError(f"{board.name} is not running")
            pid = children[0]
        return pid

    def wait_ready(self, board: Board, timeout: float = 90) -> None:
        """Until sshd answers and systemd finished booting (docker included, where enabled)."""
        deadline = time.monotonic() + timeout
        while not _ssh_banner(board.ip):
            if time.monotonic() > deadline or not self.running(board):
                raise SimError(f"{board.name}: no SSH on {board.ip}:22 after {timeout:.0f} s "
                               f"(see {self.board_dir(board.name)}/console.log)")
            time.sleep(0.05)
        left = max(1, int(deadline - time.monotonic()))
        state = self.exec(board, "timeout", str(left), "systemctl", "is-system-running", "--wait", check=False)
        if state.stdout.strip() not in ("running", "degraded"):
            raise SimError(f"{board.name}: systemd did not finish booting ({state.stdout.strip() or 'timeout'})")

    # ---- commands ---------------------------------------------------------------------------------
    def exec(self, board: Board, *cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        """Run CMD inside the board's namespaces, without SSH."""
        ns = ["nsenter", "-t", str(self.pid1(board)), "-m", "-u", "-n", "-p", "-C", "-r", "-w"]
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
        return run(*ns, "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()), *cmd, check=check, **kw)

    def up(self, count: int, profiles: list[str], docker: bool = True, prefix: str = "board") -> list[Board]:
        for name in profiles:
            load_profile(name)  # unknown profile: one clear line before anything is created
        base.ensure_base()
        self.net_up()
        Upstream(self).start()
        used = {b.idx for b in self.boards.values()}
        net = ipaddress.ip_network(self.subnet)
        new: list[Board] = []
        idx = 0
        while len(new) < count:
            idx += 1
            if idx in used:
                continue
            if idx + 10 >= net.num_addresses - 1:
                raise SimError(f"fleet {self.name} is full ({len(self.boards)} boards)")
            board = Board(name=f"{prefix}{idx}", idx=idx, profile=profiles[len(new) % len(profiles)],
                          ip=str(net.network_address + 10 + idx), docker=docker)
            if board.name in self.boards:
                continue
            self.boards[board.name] = board
            new.append(board)
        self.save()
        try:
            for board in new:
                self.power_on(board)
            for board in new:
                self.wait_ready(board)
        except BaseException:  # a board that never came up: leave nothing running behind the error
            if used:
                for board in new:
                    self.power_off(board)
            else:
                self.down()
            raise
        return new

    def reboot(self, board: Board) -> None:
        self.power_off(board)
        self.power_on(board)
        self.wait_ready(board)

    def partition(self, board: Board, on: bool) -> None:
        run("ip", "link", "set", self.veth(board), "down" if on else "up")

    def partitioned(self, board: Board) -> bool:
        out = run("ip", "-o", "link", "show", self.veth(board), check=False).stdout
        flags = out.split("<", 1)[1].split(">", 1)[0].split(",") if "<" in out else []
        return bool(out) and "UP" not in flags

    # ---- the board's internet: every upstream service of the fleet listens on the bridge address ----
    @property
    def internet_chain(self) -> str:
        """The fleet's iptables chain (host side, jumped to from INPUT for the bridge): a board's root
        has no hand on the host's tables, so it cannot undo a cut from inside."""
        return f"JSIM-{self.bridge}"

    def internet_rules(self, board: Board) -> list[list[str]]:
        """The chain's rules that cut BOARD off: what it sends the host (so every upstream service) is
        refused at once, but the replies of the SSH sessions the controller opens to it. IPv4 only, as
        the services listen on the bridge's IPv4 address. Matched by the board's address and by its MAC,
        so changing one of them from inside the board does not get it out."""
        rules = []
        for who in (["-s", board.ip], ["-m", "mac", "--mac-source", board.mac]):
            tag = ["-m", "comment", "--comment", f"jetson-sim {board.name} internet off"]
            rules += [
                [*who, "-p", "tcp", "--sport", "22", "-m", "conntrack", "--ctstate", "ESTABLISHED", *tag,
                 "-j", "RETURN"],
                [*who, "-p", "tcp", *tag, "-j", "REJECT", "--reject-with", "tcp-reset"],
                [*who, *tag, "-j", "REJECT", "--reject-with", "icmp-port-unreachable"],
            ]
        return rules

    def internet(self, board: Board, on: bool) -> None:
        """Cut BOARD from the fleet's upstream services (Docker Hub stand-in, git, Ollama registry, apt
        proxy) or give them back; SSH from the controller keeps working either way. Idempotent."""
        _iptables_present()
        chain = self.internet_chain
        for rule in self.internet_rules(board):  # start from none of this board's rules, in either case
            while run("iptables", "-w", "-D", chain, *rule, check=False).returncode == 0:
                pass
        if on:
            return
        if run("iptables", "-w", "-L", chain, "-n", check=False).returncode != 0:
            run("iptables", "-w", "-N", chain)
        jump = ["INPUT", "-i", self.bridge, "-j", chain]
        if run("iptables", "-w", "-C", *jump, check=False).returncode != 0:
            run("iptables", "-w", "-I", *jump)  # first: before any accept rule of the host's own
        for rule in self.internet_rules(board):
            run("iptables", "-w", "-A", chain, *rule)

    def internet_cut(self, board: Board) -> bool:
        if shutil.which("iptables") is None:
            return False
        rule = self.internet_rules(board)[1]
        return run("iptables", "-w", "-C", self.internet_chain, *rule, check=False).returncode == 0

    def _internet_down(self) -> None:
        """Remove the fleet's chain and its jump (the fleet's bridge is going away)."""
        if shutil.which("iptables") is None or not self.bridge:
            return
        while run("iptables", "-w", "-D", "INPUT", "-i", self.bridge, "-j", self.internet_chain,
                  check=False).returncode == 0:
            pass
        run("iptables", "-w", "-F", self.internet_chain, check=False)
        run("iptables", "-w", "-X", self.internet_chain, check=False)

    def fill_disk(self, board: Board, release: bool = False) -> str:
        """Fill the board's disk to the last byte (a real ENOSPC), or release it."""
        path = "/var/lib/jetson-sim/fill-disk"
        if release:
            self.exec(board, "rm", "-f", path, path + ".tail")
        else:
            # reserve all but 64 MiB at once (no data written), then write zeros until ENOSPC:
            # the filesystem's own metadata needs make an exact single allocation fail
            avail = int(self.exec(board, "df", "--output=avail", "-B1", "/").stdout.split()[-1])
            if avail > 2**26:
                self.exec(board, "fallocate", "-l", str(avail - 2**26), path)
            self.exec(board, "sh", "-c", f"dd if=/dev/zero of={path}.tail bs=1M status=none; sync", check=False)
        return self.exec(board, "df", "-h", "/").stdout

    def down(self, names: list[str] | None = None) -> None:
        targets = [self.board(n) for n in names] if names else list(self.boards.values())
        for board in targets:
            if self.internet_cut(board):  # a later board with its address must not start cut off
                self.internet(board, True)
            self.power_off(board)
            disk = self.board_dir(board.name) / "disk"
            if run("mountpoint", "-q", str(disk), check=False).returncode == 0:
                unmounted = run("umount", str(disk), check=False)  # the loop device goes with it (autoclear)
                if unmounted.returncode != 0 and run("mountpoint", "-q", str(disk), check=False).returncode == 0:
                    raise SimError(f"umount {disk}: {unmounted.stderr.strip()}")  # still mounted: a real failure
            shutil.rmtree(self.board_dir(board.name), ignore_errors=True)
            del self.boards[board.name]
            if self.known_hosts.exists():
                self._forget_host_key(board)
        if self.boards:
            self.save()
            return
        if self.bridge:
            Upstream(self).stop()
            self._internet_down()
            run("ip", "route", "del", "unreachable", self.subnet, "metric", "4000", check=False)
            run("ip", "link", "del", self.bridge, check=False)
            _rmdir_tree(self.cgroup)
            try:
                self.cgroup.parent.rmdir()  # the simulator's own cgroup, once no fleet is left
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def _forget_host_key(self, board: Board) -> None:
        lines = [ln for ln in self.known_hosts.read_text().splitlines() if not ln.startswith(board.ip + " ")]
        self.known_hosts.write_text("".join(ln + "\n" for ln in lines))

    def status(self) -> list[dict]:
        rows = []
        for b in self.boards.values():
            up = self.running(b)
            cut = self.partitioned(b) if up else False
            rows.append({"name": b.name, "profile": b.profile, "ip": b.ip,
                         "state": "partitioned" if cut else ("running" if up else "off"),
                         "ssh": up and not cut and _ssh_banner(b.ip, timeout=0.5),
                         "internet": not self.internet_cut(b)})
        return rows


def _raise_inotify_limit(per_board: int = 16, boards: int = 250) -> None:
    """Every board's systemd, journald, logind and dbus share root's inotify instances on the host
    (default 128: the 17th board's systemd could not start); raise the limit, never lower it."""
    knob = Path("/proc/sys/fs/inotify/max_user_instances")
    if int(knob.read_text()) < per_board * boards:
        knob.write_text(str(per_board * boards))


def _iptables_present() -> None:
    if shutil.which("iptables") is None:
        raise SimError("iptables is not installed (scripts/setup.sh installs it): it cuts a board's internet")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _cgroup_pids(cg: Path) -> list[int]:
    pids = []
    for procs in cg.rglob("cgroup.procs"):
        try:
            pids += [int(p) for p in procs.read_text().split()]
        except (FileNotFoundError, OSError):
            pass
    return pids


def _rmdir_tree(cg: Path) -> bool:
    """Remove a cgroup directory tree bottom-up; False while some cgroup is still busy."""
    try:  # cgroups vanish while they are walked (systemd removes its own): gone counts as removed
        subs = sorted((p for p in cg.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
    except FileNotFoundError:
        return _rmdir_tree(cg) if cg.exists() else True
    for path in [*subs, cg]:
        try:
            path.rmdir()
        except FileNotFoundError:
            continue
        except OSError:
            return False
    return True


def _ssh_banner(ip: str, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((ip, 22), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(4) == b"SSH-"
    except OSError:
        return False
