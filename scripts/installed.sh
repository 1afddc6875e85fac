#!/bin/bash
# The installed package, as a user gets it, outside the repository (as root: it boots a simulated board).
#   scripts/installed.sh           build the wheel, install it in a fresh venv (Python 3.10, the oldest the
#                                  package supports, when pyenv has it; else python3), `jetson-ollama init` a
#                                  project, and from there, with the repository not on sys.path: converge one
#                                  simulated board with `pyinfra ... jetson_ollama.deploys.full`, run the board
#                                  suite (tests/boards) and `jetson-ollama report` against it
#   scripts/installed.sh --newest  the unit lane (tests/unit, tests/boards) on the newest Python pyenv has, in a
#                                  venv of its own (skipped, with a line, when there is none)
# Everything lives in one temporary directory, removed at the end with the simulated fleet (torn down by
# the simulator, which ends the processes it started by their PIDs); every step has a time limit.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PYENV=${PYENV_ROOT:-/root/.pyenv}/versions

mode=installed
case "${1:-}" in
  --newest) mode=newest; shift ;;
  "") ;;
  *) echo "usage: scripts/installed.sh [--newest]" >&2; exit 2 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/jetson-ollama-installed.XXXXXX")
fleet=""
cleanup() {
  local status=$?
  cd "$REPO"
  if [ -n "$fleet" ]; then
    timeout 300 env PYTHONPATH="$REPO" .venv/bin/python -m jetson_sim --fleet "$fleet" down \
      || echo "== installed: fleet $fleet not torn down" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP  # a killed lane cleans up too

step() { echo "-- $*"; }

# pyenv_python PATTERN...: the newest pyenv interpreter whose version matches one of the patterns
pyenv_python() {
  local found=""
  for pattern in "$@"; do
    for dir in "$PYENV"/$pattern; do
      [ -x "$dir/bin/python" ] && found=$dir/bin/python
    done
  done
  [ -n "$found" ] && echo "$found"
}

venv() {  # venv PYTHON DIR: a fresh venv, its pip quiet
  step "venv $2 with $("$1" --version)"
  timeout 120 "$1" -m venv "$2"
}

pip_install() {  # pip_install VENV ARGS...: quiet, pip's output only when it fails
  if ! timeout 900 "$1/bin/pip" install -q --disable-pip-version-check "${@:2}" >"$work/pip.log" 2>&1; then
    grep -v "^WARNING: Location" "$work/pip.log" >&2
    return 1
  fi
}

if [ "$mode" = newest ]; then
  python=$(pyenv_python "3.1[3-9].*" "3.[2-9][0-9].*" || true)
  if [ -z "$python" ]; then
    echo "== unit-newest: no Python 3.13 or later under $PYENV: skipped"
    exit 0
  fi
  venv "$python" "$work/venv"
  # the package's dependencies and the test extra, as pyproject.toml lists them (the code is the repository's)
  .venv/bin/python - >"$work/requirements.txt" <<'EOF'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["test"]))
EOF
  pip_install "$work/venv" -r "$work/requirements.txt"
  n=${JETSON_TEST_UNIT_WORKERS:-4}  # as the unit lane of scripts/test.sh
  parallel=()
  [ "$n" -gt 1 ] && parallel=(-n "$n" --dist worksteal)
  step "unit lane on $("$work/venv/bin/python" --version)"
  # the repository's code, also in the subprocesses the tests start in other directories; one test runs this
  # interpreter as nobody, which pyenv's, under /root with its libpython, cannot serve (the unit lane runs it)
  PYTHONPATH=$REPO timeout 1200 "$work/venv/bin/python" -m pytest -q -rs "${parallel[@]}" tests/unit tests/boards \
    --deselect tests/unit/test_sim_native.py::test_the_gpu_needs_the_video_or_render_group "$@"
  exit 0
fi

# the repository is reached only where named: the simulator runs from it, the package never does
unset PYTHONPATH

# ---- the wheel, built from a copy of what it is made of (setuptools writes build/ next to its sources)
step "wheel"
mkdir "$work/src" "$work/dist"
tar -cf - --exclude=__pycache__ pyproject.toml README.md jetson_ollama | tar -xf - -C "$work/src"
if ! timeout 600 .venv/bin/pip wheel -q --disable-pip-version-check --no-deps -w "$work/dist" "$work/src" \
    >"$work/wheel.log" 2>&1; then
  grep -v "^WARNING: Location" "$work/wheel.log" >&2
  exit 1
fi
wheel=$(ls "$work"/dist/jetson_ollama-*.whl)
.venv/bin/python - "$wheel" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert not [name for name in names if name.startswith("jetson_sim/")], "the wheel holds jetson_sim"
assert "jetson_ollama/starter/group_data/all.py" in names, "the wheel lacks the starter project"
print(f"-- {sys.argv[1].rsplit('/', 1)[1]}: {len(names)} files")
EOF

# ---- a fresh venv, outside the repository, with the wheel (and the board suite's test tools)
python=$(pyenv_python "3.10.*" || command -v python3)
venv "$python" "$work/venv"
pip_install "$work/venv" "$wheel" "pytest>=8" "pytest-testinfra>=10"
bin=$work/venv/bin

# ---- a starter project; from here on, the repository is not on sys.path
project=$work/project
step "jetson-ollama init $project"
(cd "$work" && "$bin/jetson-ollama" init "$project")
cd "$project"
"$bin/python" - "$REPO" <<'EOF'
import importlib.util, sys
import jetson_ollama
repo = sys.argv[1]
assert importlib.util.find_spec("jetson_sim") is None, "jetson_sim is importable: the repository is on sys.path"
assert not jetson_ollama.__file__.startswith(repo + "/"), f"jetson_ollama from the repository: {jetson_ollama.__file__}"
print(f"-- jetson_ollama {jetson_ollama.__file__}, Python {sys.version.split()[0]}")
EOF
"$bin/jetson-ollama" init "$project" 2>"$work/refused" && { echo "installed: init wrote over a project" >&2; exit 1; }
grep -q "is not empty" "$work/refused"

# ---- one simulated board, with the repository's simulator; its inventory beside the starter's
export JETSON_SIM_HOME=${JETSON_SIM_TEST_HOME:-/var/lib/jetson-sim-tests}
export JETSON_SIM_FLEET=i$$  # tag and PID, as tests/sim names its fleets: a killed run's is torn down by the next
# the sim lane's site settings: one small model, over the starter's "auto"
export JETSON_SIM_HOST_DATA='{"ollama_models": ["qwen2.5:0.5b"]}'
step "simulated board (fleet $JETSON_SIM_FLEET)"
fleet=$JETSON_SIM_FLEET
(cd "$REPO" && timeout 600 env PYTHONPATH="$REPO" .venv/bin/python -m jetson_sim --fleet "$fleet" up --boards 1 \
  --profile orin-nano-8gb-r36.2.0)
cp "$REPO/inventories/sim.py" sim.py  # reads the fleet's state file; imports nothing of the repository's
"$bin/jetson-ollama" check sim.py

step "pyinfra sim.py jetson_ollama.deploys.full"
timeout 1200 "$bin/pyinfra" sim.py jetson_ollama.deploys.full -y >"$work/converge.log" 2>&1 || {
  tail -40 "$work/converge.log" >&2; exit 1; }
tail -3 "$work/converge.log"

step "board suite (tests/boards) against it"
mkdir "$work/board-tests"
cp "$REPO/tests/boards/conftest.py" "$REPO/tests/boards/test_board.py" "$work/board-tests/"
printf '[pytest]\naddopts = -p no:cacheprovider\nfilterwarnings =\n    ignore::gevent.monkey.MonkeyPatchWarning\n' \
  >"$work/board-tests/pytest.ini"
timeout 900 "$bin/python" -m pytest -q -rs -c "$work/board-tests/pytest.ini" --rootdir "$work/board-tests" \
  "$work/board-tests" --inventory sim.py

step "jetson-ollama report sim.py"
timeout 300 "$bin/jetson-ollama" report sim.py -o "$work/reports" | tee "$work/report.out"
grep -q "^board1: ok$" "$work/report.out"
