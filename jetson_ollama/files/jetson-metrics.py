#!/usr/bin/env python3
"""Write the board's jetson-ollama metrics for the Prometheus node exporter's textfile collector.

    jetson-metrics.py --api http://127.0.0.1:11434 [--textfile-dir /var/lib/prometheus/node-exporter]
                      [--state-dir /var/lib/jetson-ollama]

One sample, written to <textfile-dir>/jetson_ollama.prom atomically (a temporary file in the same
directory, then a rename: the exporter never reads half a file), in the Prometheus text format:
RAM and swap (/proc/meminfo), GPU load, temperatures and power (one tegrastats line, parsed as the
board's `monitor` does), the models Ollama has loaded with their size and GPU share (/api/ps: size and
size_vram), the last `bench` figures (<state-dir>/bench.json) and the last `quick-test` results
(<state-dir>/quick-test.json). What cannot be read is left out, and a `..._up` gauge says so.

Installed by jetson_ollama.operations.metrics to /usr/local/lib/jetson-ollama/jetson-metrics.py and run
by jetson-ollama-metrics.timer. Stdlib only, Python 3.8 (the board has python3 and nothing else).
JETSON_OLLAMA_MEMINFO replaces /proc/meminfo and JETSON_OLLAMA_TEGRASTATS the tegrastats command (tests).
Exit codes: 0 written; 1 the file could not be written; 64 bad usage.
"""

import argparse
import calendar
import json
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

OUT_NAME = "jetson_ollama.prom"
PREFIX = "jetson_ollama_"
# tegrastats: `GR3D_FREQ 0%`, `tj@45.968C` (missing sensors read -256C), `VDD_IN 5263mW/5263mW`
# (the same expressions as templates/monitor.j2)
GR3D_RE = re.compile(r"\bGR3D_FREQ (\d+)%")
TEMP_RE = re.compile(r"\b(\w+)@(-?\d+(?:\.\d+)?)C\b")
RAIL_RE = re.compile(r"\b([A-Z][A-Z0-9_]+) (\d+)(?:mW)?/(\d+)(?:mW)?(?=\s|$)")


def meminfo(path):
    """Bytes: MemTotal, MemAvailable, SwapTotal, SwapFree (kB in the file); {} when it cannot be read."""
    kb = {}
    try:
        with open(path) as lines:
            for line in lines:
                key, _, rest = line.partition(":")
                words = rest.split()
                if words and words[0].isdigit():
                    kb[key.strip()] = int(words[0])
    except OSError:
        return {}
    return {key: kb[key] * 1024 for key in ("MemTotal", "MemAvailable", "SwapTotal", "SwapFree") if key in kb}


def parse_tegrastats(line):
    """GPU load (0-1), temperatures by sensor (C) and power by rail (W, the current reading) of one line."""
    gr3d = GR3D_RE.search(line)
    return {
        "gpu_load": int(gr3d.group(1)) / 100 if gr3d else None,
        "temps": {name: float(value) for name, value in TEMP_RE.findall(line) if float(value) > -100},
        "rails": {name: int(now) / 1000 for name, now, _ in RAIL_RE.findall(line) if name not in ("RAM", "SWAP")},
    }


def tegrastats_line(command, timeout=5.0):
    """tegrastats' first line, the process stopped then (it prints one a second); "" without one."""
    argv = shlex.split(command)
    if not argv or not shutil.which(argv[0]):
        return ""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
    except OSError:
        return ""
    try:
        stdout = proc.stdout
        assert stdout is not None  # stdout=PIPE
        ready, _, _ = select.select([stdout], [], [], timeout)
        return stdout.readline().strip() if ready else ""
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def loaded_models(api):
    """[(name, size, size_vram)] from /api/ps, or None when the API does not answer. Proxies are bypassed:
    the API is the board's own."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(api.rstrip("/") + "/api/ps", timeout=3) as answer:
            models = json.load(answer).get("models") or []
    except (OSError, ValueError, AttributeError):
        return None
    found = []
    for entry in models if isinstance(models, list) else []:
        if isinstance(entry, dict):
            name = str(entry.get("name") or entry.get("model") or "?")
            found.append((name, _number(entry.get("size")), _number(entry.get("size_vram"))))
    return found


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def read_json(path):
    """The JSON document of a file, or None (missing, unreadable or not JSON)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def epoch(text):
    """Seconds since the epoch of the `%Y-%m-%dT%H:%M:%SZ` time bench and quick-test write, or None."""
    try:
        return float(calendar.timegm(time.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ")))
    except (ValueError, OverflowError):
        return None


class Metrics:
    """The text format: each family's HELP and TYPE once, then its samples."""

    def __init__(self):
        self.families = {}

    def add(self, name, help_text, value, labels=None):
        if value is None:
            return
        family = self.families.setdefault(PREFIX + name, (help_text, []))
        family[1].append((labels or {}, float(value)))

    def text(self):
        lines = []
        for name, (help_text, samples) in self.families.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            for labels, value in samples:
                shown = ",".join(f'{key}="{escape(val)}"' for key, val in sorted(labels.items()))
                lines.append(f"{name}{{{shown}}} {format_value(value)}" if shown else f"{name} {format_value(value)}")
        return "\n".join(lines) + "\n"


def escape(value):
    """A label value as the text format writes it: backslash, double quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value):
    return str(int(value)) if value == int(value) and abs(value) < 2 ** 53 else repr(value)


def collect(api, state_dir, meminfo_path, tegrastats_command):
    """One sample of everything, as a Metrics."""
    out = Metrics()
    mem = meminfo(meminfo_path)
    out.add("meminfo_up", "1 when /proc/meminfo was read", 1 if mem else 0)
    if "MemTotal" in mem:
        out.add("memory_total_bytes", "RAM (MemTotal), shared by CPU and GPU", mem["MemTotal"])
        if "MemAvailable" in mem:
            out.add("memory_available_bytes", "RAM available (MemAvailable)", mem["MemAvailable"])
            out.add("memory_used_bytes", "RAM in use (MemTotal - MemAvailable)", mem["MemTotal"] - mem["MemAvailable"])
    if "SwapTotal" in mem:
        out.add("swap_total_bytes", "swap (SwapTotal)", mem["SwapTotal"])
        out.add("swap_used_bytes", "swap in use (SwapTotal - SwapFree)", mem["SwapTotal"] - mem.get("SwapFree", 0))

    line = tegrastats_line(tegrastats_command)
    out.add("tegrastats_up", "1 when tegrastats gave a line", 1 if line else 0)
    if line:
        sample = parse_tegrastats(line)
        out.add("gpu_load_ratio", "GPU load (tegrastats GR3D_FREQ), 0-1", sample["gpu_load"])
        for sensor, celsius in sample["temps"].items():
            out.add("temperature_celsius", "temperature by sensor (tegrastats)", celsius, {"sensor": sensor})
        for rail, watts in sample["rails"].items():
            out.add("power_watts", "power by rail, current reading (tegrastats)", watts, {"rail": rail})

    models = loaded_models(api)
    out.add("api_up", "1 when Ollama's /api/ps answered", 0 if models is None else 1)
    if models is not None:
        out.add("models_loaded", "models Ollama holds in memory (/api/ps)", len(models))
    for name, size, vram in models or []:
        out.add("model_size_bytes", "memory a loaded model takes (/api/ps size)", size, {"model": name})
        out.add("model_gpu_bytes", "the part of it on the GPU (/api/ps size_vram)", vram, {"model": name})
        out.add("model_gpu_ratio", "size_vram / size: 1 is all on the GPU", vram / size if size else 0,
                {"model": name})

    bench = read_json(os.path.join(state_dir, "bench.json"))
    if isinstance(bench, dict):
        out.add("bench_timestamp_seconds", "when the last bench ran", epoch(bench.get("time")))
        summary = bench.get("summary")
        summary = summary if isinstance(summary, dict) else {}
        for model, row in summary.items():
            if not isinstance(row, dict):
                continue
            for key, name, help_text in (
                    ("tokens_per_s", "bench_tokens_per_second", "decode tokens/s of the last bench (mean)"),
                    ("prompt_tokens_per_s", "bench_prompt_tokens_per_second", "prompt tokens/s of the last bench"),
                    ("ttft_s", "bench_ttft_seconds", "time to first token of the last bench (mean)"),
                    ("load_s", "bench_load_seconds", "the longest load of the last bench (the cold load)"),
                    ("errors", "bench_errors", "failed runs of the last bench")):
                value = row.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    out.add(name, help_text, value, {"model": model})

    quick = read_json(os.path.join(state_dir, "quick-test.json"))
    if isinstance(quick, dict):
        out.add("quick_test_timestamp_seconds", "when quick-test last ran", epoch(quick.get("time")))
        checks = quick.get("checks")
        checks = checks if isinstance(checks, list) else []
        rows = [c for c in checks if isinstance(c, dict) and c.get("check")]
        for check in rows:
            out.add("quick_test_passed", "1 when the check passed in the last quick-test", 1 if check.get("ok") else 0,
                    {"check": check["check"]})
        out.add("quick_test_failures", "checks that failed in the last quick-test",
                sum(1 for check in rows if not check.get("ok")))
    out.add("collector_timestamp_seconds", "when this sample was taken", round(time.time(), 3))
    return out


def write_atomic(directory, text):
    """<directory>/jetson_ollama.prom, replaced whole: a temporary file there, then a rename."""
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".jetson_ollama.", suffix=".prom.tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.chmod(temporary, 0o644)  # the exporter runs as its own user
        os.replace(temporary, os.path.join(directory, OUT_NAME))
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def main(argv):
    parser = argparse.ArgumentParser(prog="jetson-metrics.py", description="one sample of the board's metrics")
    parser.add_argument("--api", required=True, help="Ollama's API base URL")
    parser.add_argument("--textfile-dir", default="/var/lib/prometheus/node-exporter")
    parser.add_argument("--state-dir", default="/var/lib/jetson-ollama")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return 0 if exit_.code == 0 else 64
    metrics = collect(args.api, args.state_dir, os.environ.get("JETSON_OLLAMA_MEMINFO", "/proc/meminfo"),
                      os.environ.get("JETSON_OLLAMA_TEGRASTATS", "tegrastats --interval 1000"))
    try:
        write_atomic(args.textfile_dir, metrics.text())
    except OSError as err:
        print(f"jetson-metrics: cannot write {os.path.join(args.textfile_dir, OUT_NAME)}: {err.strerror or err}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
