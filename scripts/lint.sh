#!/bin/bash
# Lint and type check (configuration: [tool.ruff] and [tool.mypy] in pyproject.toml): ruff, then mypy,
# with the venv's pinned binaries (the test extra). Both always run; exits non-zero if either finds anything.
set -uo pipefail
cd "$(dirname "$0")/.."
for tool in ruff mypy; do
  [ -x ".venv/bin/$tool" ] || { echo "lint.sh: no .venv/bin/$tool: scripts/setup.sh installs the test extra" >&2; exit 2; }
done
status=0
.venv/bin/ruff check --output-format concise || status=1
.venv/bin/mypy || status=1
exit "$status"
