#!/bin/bash
# The test suite in lanes. Without a lane (CI, as root): set-up, then lint, unit, unit-newest, installed,
# sim, stopping at the first lane that fails.
#   scripts/test.sh --unit [ARGS]   unit and fixture tests (tests/unit, tests/boards): no root, no set-up, about 1 min
#   scripts/test.sh --unit-newest [ARGS]  the same on the newest Python pyenv has, in a venv of its own (3 min;
#                                   JETSON_TEST_NEWEST=0 leaves it out of the all-lanes run)
#   scripts/test.sh --installed     the wheel installed in a fresh venv outside the repository (Python 3.10): init,
#                                   converge one simulated board, the board suite and the report; as root, 5 min
#   scripts/test.sh --sim [ARGS]    tests on simulated boards and of the simulator (tests/sim), as root
#   scripts/test.sh --lint          scripts/lint.sh
#   scripts/test.sh [ARGS]          set-up, lint, then the lanes above; with ARGS, one pytest run with them instead
# ARGS go to pytest (-k, -x, a test path...).
set -euo pipefail
cd "$(dirname "$0")/.."

lane=all
case "${1:-}" in
  --unit | --sim | --lint | --installed | --unit-newest) lane=${1#--}; shift ;;
esac

need_venv() {
  if [ ! -x .venv/bin/python ]; then
    echo "scripts/test.sh: no .venv here: run scripts/setup.sh (as root), or python3 -m venv .venv && .venv/bin/pip install -e '.[test]'" >&2
    exit 2
  fi
}

lint() {
  if [ -e scripts/lint.sh ]; then
    scripts/lint.sh
  else
    echo "scripts/lint.sh is not in this tree: no lint"
  fi
}

# workers: JETSON_TEST_WORKERS (default 2, the CI machine's cores; 1: one process); the unit lanes take
# JETSON_TEST_UNIT_WORKERS (default 4: their tests wait on subprocesses and timers about a third of the time,
# so twice the cores keeps both busy: 111 s against 137 s with 2, measured on 2 cores). pytest-xdist is in
# the test extra; a venv set up before it joined runs the same tests in one process, and says so.
workers() {  # workers LANE DIST [N]: the pytest arguments for that many workers
  local n=${3:-${JETSON_TEST_WORKERS:-2}}
  [ "$n" -gt 1 ] || return 0
  if .venv/bin/python -c "import xdist" 2>/dev/null; then
    printf '%s\n' -n "$n" --dist "$2"
  else
    echo "== $1: pytest-xdist is not installed in .venv: one process (pip install -e '.[test]' adds it)" >&2
  fi
}

unit() {
  need_venv
  local parallel
  mapfile -t parallel < <(workers unit worksteal "${JETSON_TEST_UNIT_WORKERS:-4}")  # by test, an idle worker takes half the other's queue
  .venv/bin/python -m pytest -q -rs "${parallel[@]}" tests/unit tests/boards "$@"
}

sim() {
  need_venv
  local parallel
  mapfile -t parallel < <(workers sim loadscope)  # a module, or the modules of a shared fleet, per worker
  # (tests/sim/conftest.py), in the order conftest.py gives, not by their number of tests
  [ ${#parallel[@]} -eq 0 ] || parallel+=(--no-loadscope-reorder)
  .venv/bin/python -m pytest -q -rs "${parallel[@]}" tests/sim "$@"
}

installed() {
  need_venv
  scripts/installed.sh
}

unit_newest() {
  need_venv
  if [ "${JETSON_TEST_NEWEST:-1}" = 0 ]; then
    echo "== unit-newest: JETSON_TEST_NEWEST=0: skipped"
    return 0
  fi
  scripts/installed.sh --newest "$@"
}

case "$lane" in
  unit) unit "$@" ;;
  unit-newest) JETSON_TEST_NEWEST=1 unit_newest "$@" ;;
  installed) installed ;;
  sim) sim "$@" ;;
  lint) lint ;;
  all)
    scripts/setup.sh
    for step in lint unit unit-newest installed sim; do
      if [ "$step" = unit ] && [ $# -gt 0 ]; then
        exec .venv/bin/python -m pytest -q -rs "$@"
      fi
      echo "== $step"
      start=$SECONDS
      "${step//-/_}"
      echo "== $step: ok, $((SECONDS - start)) s"
    done
    ;;
esac
