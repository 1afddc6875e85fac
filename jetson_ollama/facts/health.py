"""The health of a deployed Ollama, seen from the board in one pass: its API, its models, one short
generation, what that left loaded on the GPU, and the RAM afterwards (docs/facts.md section 5). The rollout's
health gate (``jetson_ollama.gate``) judges it.
"""

from __future__ import annotations

import json
from typing import cast

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import TypedDict, override

MEMINFO = "/proc/meminfo"

# stdlib only (the board has python3); every failure becomes a field, and one JSON object is printed.
# Arguments: API base URL, model to generate with ("" for none), num_predict, generate timeout (s),
# meminfo path. Proxies are bypassed: the API is the board's own.
_HEALTH_PY = r"""import json, sys, urllib.error, urllib.request
url, model, num_predict, timeout, meminfo = sys.argv[1].rstrip("/"), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

def number(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

def call(path, body=None, seconds=5):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with opener.open(request, timeout=seconds) as response:
            raw = response.read()
    except urllib.error.HTTPError as err:
        text = err.read().decode(errors="replace")
        try:
            text = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):
            pass
        return None, "HTTP %d from %s: %s" % (err.code, path, str(text).strip()[:200])
    except urllib.error.URLError as err:
        return None, "%s: %s" % (url + path, err.reason)
    except (OSError, ValueError) as err:
        return None, "%s: %s" % (url + path, err)
    try:
        return json.loads(raw.decode(errors="replace")), None
    except ValueError:
        return None, "%s answered with something other than JSON" % path

report = {"version": None, "error": None, "tags": {}, "generate": None, "ps": [], "mem": None}
answer, error = call("/api/version")
if isinstance(answer, dict) and isinstance(answer.get("version"), str):
    report["version"] = answer["version"]
else:
    report["error"] = error or "/api/version gave no version"
if report["version"] is not None:
    answer, _ = call("/api/tags")
    listed = answer.get("models") if isinstance(answer, dict) else None
    for entry in listed if isinstance(listed, list) else []:
        if isinstance(entry, dict) and (entry.get("name") or entry.get("model")):
            report["tags"][entry.get("name") or entry.get("model")] = str(entry.get("digest") or "")
    if model:
        body = {"model": model, "prompt": "Say hello.", "stream": False, "keep_alive": "5m",
                "options": {"num_predict": num_predict}}
        answer, error = call("/api/generate", body, timeout)
        if error is None and not isinstance(answer, dict):
            error = "/api/generate answered with something other than an object"
        elif error is None and answer.get("error"):
            error = str(answer["error"])
        count = number(answer.get("eval_count")) if isinstance(answer, dict) else 0
        if error is None and not count:
            error = "generated no tokens"
        report["generate"] = {"model": model, "ok": error is None, "error": error, "eval_count": count or None}
    answer, _ = call("/api/ps")
    loaded = answer.get("models") if isinstance(answer, dict) else None
    for entry in loaded if isinstance(loaded, list) else []:
        if isinstance(entry, dict):
            report["ps"].append({"name": entry.get("name") or entry.get("model") or "",
                                 "size": number(entry.get("size")), "size_vram": number(entry.get("size_vram"))})
kb = {}
try:
    with open(meminfo) as lines:
        for line in lines:
            key, _, rest = line.partition(":")
            if rest.split():
                kb[key] = int(rest.split()[0])
    report["mem"] = {"total_kb": kb["MemTotal"], "available_kb": kb["MemAvailable"]}
except (OSError, KeyError, ValueError):
    pass
print(json.dumps(report, sort_keys=True))
"""  # noqa: E501 - one line of the board-side script, as the fact tests record its command


class GenerateDict(TypedDict):
    model: str
    ok: bool
    error: str | None
    eval_count: int | None


class LoadedDict(TypedDict):
    name: str
    size: int
    size_vram: int


class MemDict(TypedDict):
    total_kb: int
    available_kb: int


class HealthDict(TypedDict, total=False):
    version: str | None
    error: str | None
    tags: dict[str, str]
    generate: GenerateDict | None
    ps: list[LoadedDict]
    mem: MemDict | None


class OllamaHealth(FactBase[HealthDict]):
    """
    Returns what the Ollama API at ``url`` answers, asked once by a stdlib ``python3`` program on the
    board: ``version`` (``GET /api/version``, ``None`` when it does not answer) and ``error`` (why it
    does not, else ``None``); ``tags``, each listed model's ``digest`` (``GET /api/tags``: the sha256
    hex of its manifest bytes); ``generate``, the outcome of one short ``POST /api/generate`` with
    ``model`` (``model``, ``ok``, ``error``, ``eval_count``; ``None`` without a model); ``ps``, what is
    loaded afterwards (``GET /api/ps``: ``name``, ``size``, ``size_vram``; ``size_vram == size`` is
    all on the GPU); ``mem``, ``total_kb`` and ``available_kb`` from ``/proc/meminfo`` read after the
    generation. ``{}`` when nothing was printed, ``{"error": ...}`` when the output is not the report
    (no python3). Facts section 5.

    + url: base URL of the API, e.g. ``http://127.0.0.1:11434``
    + model: the model to generate with, e.g. ``qwen2.5:1.5b``; ``None`` skips the generation
    + num_predict: tokens to generate
    + timeout: seconds the generation may take, loading the model included
    """

    @override
    def command(self, url: str, model: str | None = None, num_predict: int = 4, timeout: float = 60) -> StringCommand:
        num_predict, timeout = int(num_predict), float(timeout)  # ValueError on anything else
        if num_predict < 1 or not timeout > 0:
            raise ValueError(f"num_predict must be >= 1 and timeout > 0, not {num_predict} and {timeout}")
        return StringCommand(
            "python3 -c", QuoteString(_HEALTH_PY), QuoteString(url), QuoteString(model or ""),
            str(num_predict), f"{timeout:g}", MEMINFO, "2>&1 || true",
        )

    @staticmethod
    def default() -> HealthDict:
        return {}

    @override
    def process(self, output: list[str]) -> HealthDict:
        for line in reversed(output):  # the report is the last line; anything before it is stderr
            try:
                report = json.loads(line)
            except ValueError:
                continue
            if isinstance(report, dict) and "version" in report:
                return cast(HealthDict, report)  # the shape _HEALTH_PY prints
        said = [line.strip() for line in output if line.strip()]
        if not said:
            return {}
        return {"error": "no health report from the board: " + said[-1][:200]}
