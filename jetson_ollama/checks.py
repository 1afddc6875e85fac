"""The value checks of the settings: each takes a value and answers its problem, or None when it is fine.

A problem is worded to follow the key and precede the value in one line, `"<key>: <problem> (got <value>)"`
(config.py writes that line). defaults.py gives each setting one of these; the builders (`optional`,
`pattern`, `integer`, `number`, `choice`) make a check from a rule. A check may assume nothing about its
value's type: a check that raises is read by config.py as "not a kind of value this key takes".
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Callable
from typing import Any

from .catalog import TAG_PATTERN, catalog

Check = Callable[[Any], "str | None"]


def text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


# a git remote as git takes it: a URL, scp-like user@host:path, or an absolute path; nothing a shell would read
_GIT_REMOTE = re.compile(r"(?:(?:https?|ssh|git|file)://[\w.@:%~+-]+(?:/[\w.@%~+-]*)*|[\w.-]+@[\w.-]+:[\w./~+-]+|/[\w./~+-]+)")


def git_remote(value: Any) -> str | None:
    if isinstance(value, str) and _GIT_REMOTE.fullmatch(value):
        return None
    return "must be a git URL (https://host/path, ssh://..., git@host:path) or an absolute path, with no spaces or ;&|$"


def lock_path(value: Any) -> str | None:
    """ollama_lock_file: a file name, relative to the directory pyinfra runs in, that stays inside it."""
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if not posixpath.isabs(value) and posixpath.normpath(value).split("/")[0] == "..":
        return "must stay inside the directory pyinfra runs in (or be an absolute path)"
    return None


def optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def pattern(regex: str, problem: str) -> Check:
    # re.ASCII: \d is 0-9 only (Python's \d takes any script's digits, which no shell or Ollama reads)
    return lambda value: None if isinstance(value, str) and re.fullmatch(regex, value, re.ASCII) else problem


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be True or False"


def integer(minimum: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            return None
        return f"must be an integer >= {minimum}"
    return check


def number(minimum: float, *, exclusive: bool = False) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                value > minimum or (value == minimum and not exclusive)):
            return None
        return f"must be a number {'>' if exclusive else '>='} {minimum}"
    return check


def choice(choices: tuple[str, ...]) -> Check:
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}"


def absolute_path(value: Any) -> str | None:
    # these paths go into shell commands, docker -v src:dst and systemd unit lines (ExecStart=...), where
    # spaces, quotes, $, %, :, \ or a newline would split, expand or end them: a plain, normalized path only
    if not isinstance(value, str) or not value.startswith("/"):
        return "must be an absolute path"
    if unsafe := re.search(r"[^A-Za-z0-9._+@/-]", value):
        return f"must be an absolute path of letters, digits and . _ - + @ / only (has {unsafe.group()!r})"
    if posixpath.normpath(value) != value or value.startswith("//"):
        return "must be a normalized absolute path (no .., ., // or trailing /)"
    return None


def size(value: Any) -> str | None:
    # as fallocate, zram and docker read sizes: a whole number and a binary unit letter
    if isinstance(value, str) and re.fullmatch(r"[1-9][0-9]*[KMGT]", value):
        return None
    return "must be a size such as 512M or 8G (a whole number and K, M, G or T)"


def cidrs(value: Any) -> str | None:
    # a list, never a bare string: "10.0.0.0/8" would be read one character at a time
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return 'must be a list of networks such as ["192.168.55.0/24", "fd00::/64"]'
    for item in value:
        try:
            ipaddress.ip_network(item)
        except ValueError:
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError:
                return f"must list IPv4 or IPv6 networks such as 192.168.55.0/24; not one: {item!r}"
            return f"must list networks without host bits: {item} is inside {network}"
    return None


def container_models_dir(value: Any) -> str | None:
    # jetson-containers mounts its data dir at /data: a second mount there fails (docs/facts.md section 4)
    if problem := absolute_path(value):
        return problem
    inside = posixpath.normpath(value).lstrip("/")
    if inside == "data" or inside.startswith("data/"):
        return "must not be /data or under it (jetson-containers mounts /data)"
    return None


def port(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return None
    return "must be a port 1-65535"


# registry/name:tag, the tag a version: `main`, `latest`, `dev` and the like move (docs/facts.md section 9)
_IMAGE_REF = re.compile(r"[a-z0-9][a-z0-9._-]*(?::[0-9]+)?(?:/[a-z0-9][a-z0-9._-]*)+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_MOVING_TAGS = re.compile(r"(main|latest|dev|cuda|ollama|stable)(-.*)?")


def image_ref(value: Any) -> str | None:
    if not isinstance(value, str) or not _IMAGE_REF.fullmatch(value):
        return "must be an image reference with a tag, like ghcr.io/open-webui/open-webui:0.6.32"
    if _MOVING_TAGS.fullmatch(value.rpartition(":")[2]):
        return "must name a version tag: main, latest, dev and the like move"
    return None


def host_port(value: Any) -> str | None:
    host, _, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    if host and not re.search(r"\s", host) and re.fullmatch(r"[0-9]+", port) and 1 <= int(port) <= 65535:
        return None
    return "must be host:port with a port 1-65535"


def keep_alive(value: Any) -> str | None:
    # Ollama takes a Go duration ("5m", "1h30m", "-1") or a number of seconds
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?|-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", value, re.ASCII):
        return None
    return "must be a duration such as 5m, 1h30m, -1 or a number of seconds"


def tags(value: Any) -> str | None:
    # name:tag only: a bare name means :latest, which moves (catalog.py)
    if not isinstance(value, list) or not all(isinstance(tag, str) and re.fullmatch(TAG_PATTERN, tag)
                                              for tag in value):
        return "must be a list of name:tag strings such as qwen2.5:1.5b"
    if len(set(value)) != len(value):
        return "must not repeat a tag"
    return None


def models(value: Any) -> str | None:
    if value == "auto":
        return None
    return tags(value) if isinstance(value, list) else 'must be "auto" or a list of name:tag strings'


def preload(value: Any) -> str | None:
    """ollama_preload: "all" (the board's whole model set) or tags of it (config.preload_set checks them against
    ollama_models and ollama_max_loaded_models)."""
    if value == "all":
        return None
    return tags(value) if isinstance(value, list) else 'must be "all" or a list of name:tag strings of ollama_models'


def auto_models(value: Any) -> str | None:
    # "auto" estimates each model's memory, which needs the catalog's sizes
    if problem := tags(value):
        return problem
    if not value:
        return "must list at least one tag"
    if unknown := [tag for tag in value if tag not in catalog()]:
        return f"must list catalog tags (data/models.yaml); not there: {', '.join(unknown)}"
    return None


def prompts(value: Any) -> str | None:
    if isinstance(value, list) and value and all(isinstance(prompt, str) and prompt.strip() for prompt in value):
        return None
    return "must be a list of at least one non-empty prompt"


def url(value: Any) -> str | None:
    return None if isinstance(value, str) and re.fullmatch(r"https?://[^\s/]+(/\S*)?", value) else \
        "must be an http:// or https:// URL"


def ipv4_networks(value: Any) -> str | None:
    """IPv4 networks such as 10.0.0.0/8 (the API binds to an IPv4 address; a host firewall admits them)."""
    problem = "must be a list of IPv4 networks such as 10.0.0.0/8"
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return problem
    for item in value:
        try:
            ipaddress.IPv4Network(item)
        except ValueError as error:
            return f"{problem} ({error})"
    return None


def ipv4(value: Any) -> str | None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return "must be an IPv4 address such as 192.168.55.101"
    return None


# an API key as host data holds it: its sha256 (sha256:<64 hex>), or env:NAME, a controller environment variable
# that holds the clear key (hashed on the controller; the clear key is never written to the board)
_KEY_HASH = re.compile(r"sha256:[0-9a-f]{64}")
_KEY_ENV = re.compile(r"env:[A-Za-z_][A-Za-z0-9_]*")


def api_keys(value: Any) -> str | None:
    """ollama_api_keys: a list of sha256:<64 lowercase hex> or env:NAME, each once."""
    problem = "must be a list of key hashes sha256:<64 lowercase hex> (or env:NAME, a variable on the controller)"
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return problem
    if bad := [item for item in value if not (_KEY_HASH.fullmatch(item) or _KEY_ENV.fullmatch(item))]:
        return f"{problem}; {bad[0][:4] + '...'!r} is neither"  # a clear key pasted here is not echoed
    if len(set(value)) != len(value):
        return "lists a key twice"
    return None


def controller_path(value: Any) -> str | None:
    """A file on the controller (ollama_tls_cert, ollama_tls_key): a non-empty path without a newline."""
    if not isinstance(value, str) or not value.strip() or "\n" in value:
        return "must be the path of a file on the controller"
    return None
