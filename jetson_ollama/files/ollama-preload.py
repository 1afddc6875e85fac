#!/usr/bin/env python3
"""ollama-preload: load models into Ollama and keep them loaded (the ollama_preload setting of jetson-ollama).

usage: ollama-preload --api URL --keep-alive DURATION [--wait SECONDS] [--load-timeout SECONDS] MODEL...

Waits up to --wait seconds (default 120) for GET URL/api/version, then loads each model with an empty
POST URL/api/generate {"model": MODEL, "keep_alive": DURATION}: "If an empty prompt is provided, the
model will be loaded into memory" (ollama/ollama docs/api.md "Load a model" @v0.6.8, 6a74bba7). A
DURATION of digits is sent as a number of seconds, anything else as a Go duration string (5m, -1).
One line per model on stdout (the journal, under jetson-ollama-preload.service). Exit status: 0 when
every model loaded, 1 otherwise, 2 on bad arguments. Standard library only: it runs on the board's python3.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.request


def keep_alive_value(text: str) -> int | float | str:
    """The request's keep_alive: seconds as a JSON number, a duration as a string (api.Duration reads both)."""
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    return text


def wait_for_api(api: str, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(f"{api}/api/version", timeout=2) as answer:
                json.load(answer)
                return True
        except (OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(1)


def load(api: str, model: str, keep_alive: int | float | str, timeout: float) -> str | None:
    """Loads `model`; None when Ollama answered done, else why not (one line)."""
    body = json.dumps({"model": model, "keep_alive": keep_alive}).encode()
    request = urllib.request.Request(f"{api}/api/generate", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            reply = json.load(answer)
    except urllib.error.HTTPError as error:
        try:
            return str(json.load(error).get("error") or error)
        except ValueError:
            return str(error)
    except (OSError, ValueError) as error:
        return str(error) or type(error).__name__
    return None if reply.get("done") else f"unexpected answer {reply!r}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ollama-preload", description="Load models into Ollama and keep them.")
    parser.add_argument("--api", required=True, help="the API's base URL, e.g. http://127.0.0.1:11434")
    parser.add_argument("--keep-alive", required=True, help="how long each model stays loaded (5m, 3600, -1)")
    parser.add_argument("--wait", type=float, default=120, help="seconds to wait for the API")
    parser.add_argument("--load-timeout", type=float, default=600, help="seconds one load may take")
    parser.add_argument("models", nargs="+", metavar="MODEL")
    args = parser.parse_args(argv)
    api = args.api.rstrip("/")
    if not wait_for_api(api, args.wait):
        print(f"ollama-preload: the Ollama API at {api} did not answer within {args.wait:g} s: nothing loaded",
              file=sys.stderr, flush=True)
        return 1
    keep_alive, failed = keep_alive_value(args.keep_alive), 0
    for model in args.models:
        started = time.monotonic()
        problem = load(api, model, keep_alive, args.load_timeout)
        if problem:
            failed += 1
            print(f"ollama-preload: {model} did not load: {problem}", file=sys.stderr, flush=True)
        else:
            print(f"loaded {model} (keep_alive {args.keep_alive}) in {time.monotonic() - started:.1f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
