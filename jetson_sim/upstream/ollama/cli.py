"""The `ollama` command line: a client of the API (`pull`, `list`, `ps`, `rm`, `run`, `stop`, `cp`,
`show`, `--version`) with the real client's output and error texts; `serve` starts the server.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
import urllib.error
import urllib.request

from .api import serve
from .config import Config, human_bytes


class ClientError(Exception):
    pass


def client_call(cfg: Config, method: str, path: str, body=None, stream: bool = False):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(cfg.client_url() + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", "User-Agent": cfg.user_agent})
    try:
        resp = urllib.request.urlopen(req, timeout=3600)
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            message = json.loads(raw).get("error") or raw.decode()
        except (ValueError, AttributeError):
            message = raw.decode(errors="replace").strip()
        raise ClientError(message) from None
    except (urllib.error.URLError, ConnectionError):
        raise ClientError("could not connect to ollama app, is it running?") from None
    if not stream:
        with resp:
            raw = resp.read()
            return json.loads(raw) if raw.strip() else {}
    return _ndjson(resp)


def _ndjson(resp):
    with resp:
        for line in resp:
            if line.strip():
                doc = json.loads(line)
                if "error" in doc:  # errors arrive inside the 200 stream (docs/facts.md section 5)
                    raise ClientError(doc["error"])
                yield doc


def human_time(ts: float, future: bool = False) -> str:
    delta = abs(ts - time.time())
    if future and delta > 100 * 365 * 86400:
        return "Forever"
    # the text of the first limit above delta: used after the loop
    for limit, text in ((1, "Less than a second"), (60, "{s} seconds"), (120, "About a minute"),  # noqa: B007
                        (46 * 60, "{m} minutes"), (90 * 60, "About an hour"), (48 * 3600, "{h} hours"),
                        (14 * 86400, "{d} days"), (90 * 86400, "{w} weeks"), (730 * 86400, "{mo} months")):
        if delta < limit:
            break
    else:
        text = "{y} years"
    s = int(delta)
    text = text.format(s=s, m=s // 60, h=s // 3600, d=s // 86400, w=s // 604800, mo=s // 2592000, y=s // 31536000)
    return f"{text} from now" if future else f"{text} ago"


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("    ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def parse_ts(text: str) -> float:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def go_duration(seconds: float) -> str:
    if seconds >= 60:
        return f"{int(seconds // 60)}m{seconds % 60:.6g}s"
    if seconds >= 1:
        return f"{seconds:.6g}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.6g}ms"
    return f"{seconds * 1e6:.6g}µs"


def cli_pull(cfg: Config, model: str) -> None:
    shown, tty = set(), sys.stderr.isatty()
    for doc in client_call(cfg, "POST", "/api/pull", {"model": model}, stream=True):
        status = doc.get("status", "")
        if "digest" in doc:
            total, done = doc.get("total", 0), doc.get("completed", 0)
            line = f"{status}: {100 * done // max(total, 1):3d}% {human_bytes(total)}"
            if tty:
                sys.stderr.write(f"\r{line}" + ("\n" if done >= total else ""))
            elif done >= total and status not in shown:
                sys.stderr.write(line + "\n")
                shown.add(status)
        else:
            sys.stderr.write(status + "\n")
        sys.stderr.flush()


def cli_run(cfg: Config, args: list[str]) -> int:
    verbose = "--verbose" in args
    keep_alive = None
    rest = []
    it = iter(a for a in args if a != "--verbose")
    for arg in it:
        if arg.startswith("--keepalive"):
            keep_alive = arg.partition("=")[2] or next(it, "")
        elif arg in ("--nowordwrap", "--insecure"):
            continue
        else:
            rest.append(arg)
    if not rest:
        raise ClientError('accepts at least 1 arg(s), received 0')
    model, words = rest[0], rest[1:]
    try:
        client_call(cfg, "POST", "/api/show", {"model": model})
    except ClientError as err:
        if "not found" not in str(err):
            raise
        cli_pull(cfg, model)  # `ollama run` pulls a missing model first

    def ask(prompt: str) -> None:
        body = {"model": model, "prompt": prompt}
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        final = {}
        for doc in client_call(cfg, "POST", "/api/generate", body, stream=True):
            sys.stdout.write(doc.get("response", ""))
            sys.stdout.flush()
            final = doc
        sys.stdout.write("\n\n" if sys.stdout.isatty() else "\n")
        if verbose and final.get("eval_duration"):
            ns = 1e9
            prompt_rate = final["prompt_eval_count"] / max(final["prompt_eval_duration"], 1) * ns
            stats = [("total duration", go_duration(final["total_duration"] / ns)),
                     ("load duration", go_duration(final["load_duration"] / ns)),
                     ("prompt eval count", f"{final['prompt_eval_count']} token(s)"),
                     ("prompt eval duration", go_duration(final["prompt_eval_duration"] / ns)),
                     ("prompt eval rate", f"{prompt_rate:.2f} tokens/s"),
                     ("eval count", f"{final['eval_count']} token(s)"),
                     ("eval duration", go_duration(final["eval_duration"] / ns)),
                     ("eval rate", f"{final['eval_count'] / final['eval_duration'] * ns:.2f} tokens/s")]
            sys.stderr.write("".join(f"{k + ':':<22}{v}\n" for k, v in stats))

    if words:
        ask(" ".join(words))
    elif not sys.stdin.isatty():
        ask(sys.stdin.read())
    else:
        client_call(cfg, "POST", "/api/generate", {"model": model})  # load, as the real REPL does
        while True:
            try:
                line = input(">>> ")
            except EOFError:
                break
            if line.strip() in ("/bye", "/exit"):
                break
            if line.strip():
                ask(line)
    return 0


def cli(argv: list[str]) -> int:
    cfg = Config()
    usage = ("Usage:\n  ollama [flags]\n  ollama [command]\n\nAvailable Commands:\n"
             "  serve       Start ollama\n  show        Show information for a model\n"
             "  run         Run a model\n  stop        Stop a running model\n"
             "  pull        Pull a model from a registry\n"
             "  list        List models\n  ps          List running models\n  cp          Copy a model\n"
             "  rm          Remove a model\n\nFlags:\n  -h, --help      help for ollama\n"
             "  -v, --version   Show version information\n\n(jetson-sim: a simulated ollama, not Ollama)\n")
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(usage)
        return 0
    cmd, args = argv[0], argv[1:]
    try:
        if cmd in ("-v", "--version", "version"):
            try:
                server = client_call(cfg, "GET", "/api/version").get("version", "")
                print(f"ollama version is {server}")
                if server != cfg.version:
                    print(f"Warning: client version is {cfg.version}")
            except ClientError:
                print("Warning: could not connect to a running Ollama instance")
                print(f"Warning: client version is {cfg.version}")
            return 0
        if cmd in ("serve", "start"):
            return serve()
        if cmd == "pull":
            if len(args) != 1:
                raise ClientError(f"accepts 1 arg(s), received {len(args)}")
            cli_pull(cfg, args[0])
            return 0
        if cmd in ("list", "ls"):
            rows = [["NAME", "ID", "SIZE", "MODIFIED"]]
            for m in client_call(cfg, "GET", "/api/tags")["models"]:
                if not args or any(m["name"].startswith(a) for a in args):
                    modified = human_time(parse_ts(m["modified_at"]))
                    rows.append([m["name"], m["digest"][:12], human_bytes(m["size"]), modified])
            print(table(rows))
            return 0
        if cmd == "ps":
            context = cfg.since("ps_context_length")  # cmd/cmd.go ListRunningHandler: a CONTEXT column from 0.10.0
            rows = [["NAME", "ID", "SIZE", "PROCESSOR", *(["CONTEXT"] if context else []), "UNTIL"]]
            for m in client_call(cfg, "GET", "/api/ps")["models"]:
                vram, size = m.get("size_vram", 0), max(m["size"], 1)
                if vram == 0:
                    proc = "100% CPU"
                elif vram >= size:
                    proc = "100% GPU"
                else:
                    cpu = round(100 * (size - vram) / size)
                    proc = f"{cpu}%/{100 - cpu}% CPU/GPU"
                until = parse_ts(m["expires_at"])
                rows.append([m["name"], m["digest"][:12], human_bytes(m["size"]), proc,
                             *([str(m.get("context_length", 0))] if context else []),
                             "Stopping..." if until <= time.time() else human_time(until, future=True)])
            print(table(rows))
            return 0
        if cmd == "rm":
            if not args:
                raise ClientError("requires at least 1 arg(s), only received 0")
            for model in args:
                client_call(cfg, "DELETE", "/api/delete", {"model": model})
                print(f"deleted '{model}'")
            return 0
        if cmd == "stop":
            if len(args) != 1:
                raise ClientError(f"accepts 1 arg(s), received {len(args)}")
            client_call(cfg, "POST", "/api/generate", {"model": args[0], "keep_alive": 0})
            return 0
        if cmd == "cp":
            if len(args) != 2:
                raise ClientError(f"accepts 2 arg(s), received {len(args)}")
            client_call(cfg, "POST", "/api/copy", {"source": args[0], "destination": args[1]})
            print(f"copied '{args[0]}' to '{args[1]}'")
            return 0
        if cmd == "show":
            if len(args) != 1:
                raise ClientError(f"accepts 1 arg(s), received {len(args)}")
            info = client_call(cfg, "POST", "/api/show", {"model": args[0]})
            d, mi = info["details"], info["model_info"]
            ctx = next((v for k, v in mi.items() if k.endswith(".context_length")), "")
            print("  Model")
            for key, value in (("architecture", d["family"]), ("parameters", d["parameter_size"]),
                               ("context length", ctx), ("quantization", d["quantization_level"])):
                print(f"    {key:<20}{value}")
            return 0
        if cmd == "run":
            return cli_run(cfg, args)
        raise ClientError(f'unknown command "{cmd}" for "ollama"')
    except ClientError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
