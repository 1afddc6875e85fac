#!/bin/bash
# The test suite: unit and fixture tests, then integration tests on simulated boards (run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest -q -rs "$@"
