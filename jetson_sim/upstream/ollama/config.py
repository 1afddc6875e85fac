"""The server's and the client's environment, read as the real one reads it (docs/facts.md section 5):
`Config`, Go durations for keep-alive, the address in OLLAMA_HOST, and the log line and size formats
Ollama prints.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import time
from pathlib import Path

from .versions import DEFAULT_VERSION, VERSION_RULES, parse_version, release_tuple


DEFAULT_PORT = 11434
GIB = 1 << 30


def env(key: str, default: str = "") -> str:
    """Like Ollama's envconfig.Var: trimmed, surrounding quotes removed."""
    return os.environ.get(key, "").strip().strip("\"'") or default


def env_bool(key: str) -> bool:
    # envconfig.Bool: unset -> false, a bool string -> its value, anything else non-empty -> true
    value = env(key).lower()
    return bool(value) and value not in ("0", "f", "false")


def env_uint(key: str, default: int) -> int:
    value = env(key)
    return int(value) if value.isdigit() else default


def parse_host(value: str) -> tuple[str, int]:
    """OLLAMA_HOST -> (host, port): `0.0.0.0`, `0.0.0.0:11434`, `http://host:port`, `:11434`, `[::1]:8080`."""
    value = re.sub(r"^[A-Za-z]+://", "", value.strip() or "127.0.0.1").split("/", 1)[0]
    if value.startswith("["):  # [::1]:8080
        host, _, port = value[1:].partition("]")
        port = port.lstrip(":")
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:  # a bare host name or address (IPv6 included): the default port
        host, port = value, ""
    return host, int(port) if port.isdigit() else DEFAULT_PORT


def parse_duration(value, default: float | None = 300.0) -> float | None:
    """Keep-alive: a number of seconds or a Go duration (`5m`, `1h30m`, `500ms`) -> seconds; a negative
    value -> None (forever)."""
    if value is None or value == "":
        return default
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif re.fullmatch(r"-?\d+(\.\d+)?", str(value).strip()):
        seconds = float(value)
    else:
        text = str(value).strip()
        sign = -1 if text.startswith("-") else 1
        parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text.lstrip("+-"))
        if not parts or "".join(n + u for n, u in parts) != text.lstrip("+-"):
            raise ValueError(f"time: invalid duration \"{text}\"")
        unit = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
        seconds = sign * sum(float(n) * unit[u] for n, u in parts)
    return None if seconds < 0 else seconds


GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def _leading(pattern: str, text: str) -> str:
    """What `pattern` matches at the start of `text` ("" when nothing does)."""
    match = re.match(pattern, text)
    return match[0] if match else ""


def go_parse_duration(text: str) -> float:
    """Go's time.ParseDuration -> seconds, with its error texts (`time: missing unit in duration "30"`)."""
    quoted = f'"{text}"'
    rest, sign = text, 1
    if rest[:1] in ("+", "-"):
        sign, rest = (-1 if rest[0] == "-" else 1), rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0.0
    while rest:
        number = _leading(r"\d*(\.\d*)?", rest)
        if number in ("", "."):
            raise ValueError(f"time: invalid duration {quoted}")
        rest = rest[len(number):]
        unit = _leading(r"[^\d.]*", rest)
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in GO_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration {quoted}')
        total += float(number) * GO_UNITS[unit]
        rest = rest[len(unit):]
    return sign * total


def request_keep_alive(value, default: float | None, exact: bool) -> float | None:
    """A request's keep_alive as api.Duration's UnmarshalJSON reads it -> seconds, None for forever.
    A number is seconds (before 0.11.8 truncated to whole seconds: VERSION_RULES exact_keep_alive), a
    string a Go duration; negative is forever; absent or null: the server's OLLAMA_KEEP_ALIVE."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        kind = {bool: "bool", list: "[]interface {}", dict: "map[string]interface {}"}.get(type(value), "?")
        raise ValueError(f"Unsupported type: '{kind}'")
    seconds = go_parse_duration(value) if isinstance(value, str) else float(value if exact else int(value))
    return None if seconds < 0 else seconds


class Config:
    def __init__(self):
        self.host, self.port = parse_host(env("OLLAMA_HOST"))
        self.models = Path(os.path.expanduser(env("OLLAMA_MODELS", "~/.ollama/models")))
        try:
            self.keep_alive = parse_duration(env("OLLAMA_KEEP_ALIVE"))
        except ValueError:
            self.keep_alive = 300.0
        self.num_parallel = max(1, env_uint("OLLAMA_NUM_PARALLEL", 1))
        self.max_loaded = env_uint("OLLAMA_MAX_LOADED_MODELS", 0) or 3
        self.context_length = env_uint("OLLAMA_CONTEXT_LENGTH", 4096) or 4096
        self.flash_attention = env_bool("OLLAMA_FLASH_ATTENTION")
        self.kv_cache_type = env("OLLAMA_KV_CACHE_TYPE", "f16").lower()
        self.gpu_overhead = env_uint("OLLAMA_GPU_OVERHEAD", 0)
        self.noprune = env_bool("OLLAMA_NOPRUNE")
        self.version = env("OLLAMA_SIM_VERSION", DEFAULT_VERSION)
        self.behaves_as = (parse_version(env("OLLAMA_SIM_BEHAVES_AS")) or parse_version(self.version)
                           or release_tuple(DEFAULT_VERSION))
        self.registry = env("OLLAMA_SIM_REGISTRY", "http://registry.ollama.ai:11500").rstrip("/")
        self.profile = env("JETSON_SIM_PROFILE", "/etc/jetson-sim/profile.json")
        self.gpu_marker = env("JETSON_SIM_GPU", "/run/jetson-sim/gpu")
        self.tegra_release = env("JETSON_SIM_TEGRA_RELEASE", "/etc/nv_tegra_release")
        self.meminfo = env("JETSON_SIM_MEMINFO", "/proc/meminfo")
        self.gr3d = env("JETSON_SIM_GR3D", "/run/jetson-sim/gr3d")
        try:
            self.time_scale = max(0.0, float(env("JETSON_SIM_TIME_SCALE", "0.02")))
        except ValueError:
            self.time_scale = 0.02
        try:  # docs/facts.md section 7: streamed tokens come at the speed eval_count/eval_duration report
            self.stream_pace = max(0.0, float(env("JETSON_SIM_STREAM_PACE", "1")))
        except ValueError:
            self.stream_pace = 1.0
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
        self.user_agent = f"ollama/{self.version} ({arch} linux) Go/go1.24.0"

    def since(self, rule: str) -> bool:
        """Does this build have the behaviour VERSION_RULES[rule] names?"""
        return self.behaves_as >= release_tuple(VERSION_RULES[rule][0])

    def client_url(self) -> str:
        host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def pace(self, simulated_seconds: float) -> None:
        """A streamed token's wait: JETSON_SIM_STREAM_PACE wall seconds per simulated second (1: the speed
        the answer reports, 0: none), whatever JETSON_SIM_TIME_SCALE says."""
        if self.stream_pace > 0 and simulated_seconds > 0:
            time.sleep(simulated_seconds * self.stream_pace)

    def sleep(self, simulated_seconds: float) -> None:
        if self.time_scale > 0 and simulated_seconds > 0:
            time.sleep(simulated_seconds * self.time_scale)


def log(level: str, msg: str, **attrs) -> None:
    """One slog-style line on stderr, like the real server's log."""
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    extra = "".join(f" {k}={json.dumps(v) if isinstance(v, str) and ' ' in v else v}" for k, v in attrs.items())
    sys.stderr.write(f"time={now} level={level} source=jetson-sim msg={json.dumps(msg)}{extra}\n")
    sys.stderr.flush()


def human_bytes2(n: int) -> str:
    """Ollama's format.HumanBytes2 (binary units, one decimal), used in its memory errors."""
    for unit, size in (("GiB", GIB), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def human_bytes(n: int) -> str:
    """Ollama's format.HumanBytes (decimal units, as `ollama list` prints 4.7 GB)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 10 else f"{int(value)} {unit}"
    return f"{n} B"


def rfc3339(ts: float | None = None, utc: bool = False) -> str:
    when = dt.datetime.fromtimestamp(time.time() if ts is None else ts, dt.timezone.utc)
    if utc:
        return when.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return when.astimezone().isoformat(timespec="microseconds")
