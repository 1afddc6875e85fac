"""What the model-store check (fact OllamaBlobs) costs: a full check (every blob hashed, as
`ollama_verify_models: full` and the first run after a pull do) and the check of every other run (a stat
per blob, nothing hashed when the memo matches).

    python benchmarks/blob_check.py [SIZE_MB]

Builds a store of one model on this machine's disk, shaped like qwen2.5:7b (a 4.7 GB model layer and
four small blobs) but SIZE_MB in all (default 512: a real 5 GB store would not fit every CI disk), runs
the fact's own board-side command on it, and prints the seconds and MB/s of each kind of check and the
seconds a 5 GB store takes at that rate. Hashing is linear in bytes (sha256 over 1 MiB reads), so the
scale is by bytes; the simulator's stores are 1/1000 of the real sizes, which is why this is measured
here and not on a simulated board. A board's own rate differs: run this script with python3 on it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jetson_ollama.facts.models import BlobsDict, OllamaBlobs

REAL_STORE_GB = 5.0


def build(root: Path, size_mb: int) -> int:
    (root / "blobs").mkdir(parents=True)
    layers, total, chunk = [], 0, hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB, not all zeros
    for name, size in (("model", size_mb * 1_000_000), ("template", 1_000), ("license", 11_000),
                       ("system", 100), ("params", 500), ("config", 500)):
        h, path = hashlib.sha256(), root / "blobs" / f"tmp-{name}"
        with path.open("wb") as f:
            left = size
            while left:
                part = (name.encode() + chunk)[:min(left, len(chunk))]  # each blob its own bytes
                f.write(part)
                h.update(part)
                left -= len(part)
        digest = "sha256:" + h.hexdigest()
        path.rename(root / "blobs" / digest.replace(":", "-"))
        layers.append({"mediaType": name, "digest": digest, "size": size})
        total += size
    folder = root / "manifests" / "registry.ollama.ai" / "library" / "qwen2.5"
    folder.mkdir(parents=True)
    (folder / "7b").write_text(json.dumps({"schemaVersion": 2, "config": layers[-1], "layers": layers[:-1]}))
    return total


def timed(root: Path, memo: Path, full: bool) -> tuple[float, BlobsDict]:
    fact = OllamaBlobs()
    command = fact.command(models_dir=str(root), memo=str(memo), full=full).get_raw_value()
    started = time.perf_counter()
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - started, fact.process(out.splitlines())


def main() -> None:
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        root, memo = Path(work) / "models", Path(work) / "memo.json"
        total = build(root, size_mb)
        subprocess.run(["sync"], check=False)
        full_s, full = timed(root, memo, full=True)
        assert not full.get("damaged"), full
        memo_s, memo_run = timed(root, memo, full=False)
        rate = full.get("hashed_bytes", 0) / full_s / 1e6
        print(f"store: {total / 1e6:.0f} MB in {full.get('checked', 0)} blobs (page cache warm: just written)")
        print(f"full check: {full_s:.2f} s, {rate:.0f} MB/s hashed")
        print(f"every-run check (memo matches): {memo_s:.3f} s, {memo_run.get('hashed_bytes', 0)} bytes hashed")
        print(f"a {REAL_STORE_GB:.0f} GB store at this rate: {REAL_STORE_GB * 1e3 / rate:.1f} s full, "
              f"{memo_s:.3f} s every run")


if __name__ == "__main__":
    main()
