#!/usr/bin/env python3
"""SIMULATED ollama package test: pull the small test model from registry.ollama.ai.

Upstream's test runs in the image with --network=host and pulls smollm2:135m-instruct-q2_K, so the
board's own network decides it; offline it fails. This runs that same reachability
check on the board: GET the model's manifest, print ollama's error when it cannot.
"""

import os
import sys
import urllib.error
import urllib.request

# simulator-only override, so tests can point it at a closed port
REGISTRY = os.environ.get("JETSON_SIM_TEST_REGISTRY", "https://registry.ollama.ai")
MODEL = sys.argv[1] if len(sys.argv) > 1 else "smollm2:135m-instruct-q2_K"

name, tag = MODEL.split(":")
url = f"{REGISTRY}/v2/library/{name}/manifests/{tag}"
print(f"pulling manifest {MODEL}", flush=True)
try:
    with urllib.request.urlopen(url, timeout=10) as response:
        response.read()
except (urllib.error.URLError, OSError) as error:
    reason = getattr(error, "reason", error)
    print(f'Error: pull model manifest: Get "{url}": {reason}', file=sys.stderr)
    print("the ollama test needs the internet; build with --skip-tests=all offline", file=sys.stderr)
    sys.exit(1)
print("success")
