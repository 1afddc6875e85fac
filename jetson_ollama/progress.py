"""Progress of the long steps (model pulls and copies, image pulls, pushes, loads and builds, release
downloads) at pyinfra's default verbosity, through pyinfra's own output.

pyinfra prints a command's output lines, prefixed with the board (``[board1] ...``), only when its
state asks for it (``-v``): ``StringCommand.execute`` passes ``print_output=state.print_output`` to the
connector. ``ProgressCommand`` is a ``StringCommand`` that passes ``print_output=True`` for itself
alone, so the board-side command decides what the user sees: one progress line every few seconds
on stdout, nothing chatty. It compares, prints and quotes as the ``StringCommand`` of the same
words, so operation fixtures and pyinfra's ``@fake`` connector see the plain command.

``watched`` wraps a command that is chatty or silent by itself (``docker pull``, ``jetson-containers
build``, ``curl``) in a shell loop: its output goes to a log file, and every ``EVERY`` seconds one
line says how long it has run, what its log says so far (``summary``) and its last log line; when it
fails, the last lines of the log go to stderr. Both run in ``sh`` (dash on a board), so the commands
stay runnable where the tests run them.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from pyinfra.api import QuoteString, StringCommand
from pyinfra.connectors.util import CommandOutput

if TYPE_CHECKING:
    from pyinfra.api.arguments import ConnectorArguments
    from pyinfra.api.host import Host
    from pyinfra.api.state import State

EVERY = 5  # seconds between two progress lines of a watched command
TAIL = 20  # log lines shown when a watched command fails
LOG_DIR = "/var/log/jetson-ollama"  # where the logs of watched commands stay, one per step

# What the loop reads from a command's log (its last 64 KiB on stdin, one short summary out), by kind;
# POSIX awk (mawk on Ubuntu: no regex intervals).
# docker pull / push / load without a TTY print one line per layer and state, `a1b2c3d4e5f6: Pull complete`,
# and no bytes (docker/cli pkg/jsonmessage Display skips progress bars off a terminal; read there, not pinned to
# a commit here): layers done of those seen.
_DOCKER = (
    "tr '\\r' '\\n' | awk '$1 ~ /^[0-9a-f]+:$/ && length($1) == 13 {seen[$1]=1}"
    " $1 ~ /^[0-9a-f]+:$/ && / (Pull complete|Already exists|Pushed|Layer already exists|Mounted from)/ {done[$1]=1}"
    " END{n=0; d=0; for (i in seen) n++; for (i in done) d++; if (n) printf \"layers %d/%d\", d, n}'"
)
# jetson-containers build: the stage it is at, `[2/5] Building go (...)` (dusty-nv/jetson-containers
# jetson_containers/container.py build_container @16f7cf41, through log_status) or `-- Building
# container NAME` (@2262004f), and the docker build step inside it, `Step 3/12 : RUN ...` (the legacy
# builder, DOCKER_BUILDKIT=0 at both).
_BUILD = (
    "tr '\\r' '\\n' | sed 's/\\x1b\\[[0-9;?]*[A-Za-z]//g' | awk"
    " 'match($0, /\\[[0-9]+\\/[0-9]+\\] (Building|Testing) [^ ]+/) {stage=substr($0, RSTART, RLENGTH); step=\"\"}"
    " /^-- Building container / {stage=\"Building \" $4; step=\"\"}"
    " /^Step [0-9]+\\/[0-9]+ :/ {step=$2}"
    " END{if (stage != \"\") printf \"%s\", stage; if (step != \"\") printf \"%sstep %s\","
    " (stage != \"\" ? \", \" : \"\"), step}'"
)
# curl's progress meter (no -s): `% Total % Received % Xferd Average Speed Time Time Time Current`,
# redrawn with \r; its last row gives the percent, the size, what came and the current speed.
_CURL = (
    "tr '\\r' '\\n' | awk '$1 ~ /^[0-9]+$/ && NF == 12 {line=$0; p=$1; t=$2; r=$4; s=$12}"
    " END{if (line != \"\") printf \"%sB of %sB (%s%%), %sB/s\", r, t, p, s}'"
)
SUMMARIES = {"docker": _DOCKER, "build": _BUILD, "curl": _CURL, "": ""}


class ProgressCommand(StringCommand):
    """A ``StringCommand`` whose output pyinfra prints as it comes, whatever the verbosity: for board-side
    commands that print a few progress lines on stdout and their errors on stderr."""

    def execute(self, state: State, host: Host, connector_arguments: ConnectorArguments) -> Any:
        connector_arguments.update(self.connector_arguments)
        status, output = host.run_shell_command(self, print_output=True, print_input=state.print_input,
                                                **connector_arguments)
        if status is False and isinstance(output, CommandOutput):
            # pyinfra prints a failed command's output again unless it printed it (-v): the errors only,
            # not every progress line once more
            output = CommandOutput([line for line in output if line.buffer_name == "stderr"])
        return status, output

    def __eq__(self, other: object) -> bool:  # as the StringCommand of the same words, both ways round
        return isinstance(other, StringCommand) and repr(self) == repr(other)

    __hash__ = None  # type: ignore[assignment]  # as StringCommand's


def printed(command: StringCommand) -> ProgressCommand:
    """``command`` as a ``ProgressCommand``: the same words, printed as it runs."""
    return ProgressCommand(*command.bits, _separator=command.separator, **command.connector_arguments)


def watch_script(label: str, log: str, summary: str = "", every: int = EVERY, last: bool = True,
                 tail: int = TAIL) -> str:
    """The shell that runs ``"$@"`` with its output in ``log`` and prints, every ``every`` seconds while it
    runs, ``LABEL: 1 min 05 s, SUMMARY; last: LAST LOG LINE``; at the end ``LABEL: done in ...`` or, on
    stderr, ``LABEL: failed after ... (exit N)`` and the last ``tail`` lines of the log; it exits as the
    command. ``summary`` is a key of ``SUMMARIES``; ``label`` and ``log`` are quoted here. A ``log`` that
    cannot be written (no such directory, not root) becomes a ``mktemp`` file."""
    if summary not in SUMMARIES:
        raise ValueError(f"summary must be one of {sorted(SUMMARIES)}, not {summary!r}")
    if not isinstance(every, int) or isinstance(every, bool) or not 1 <= every <= 60:
        raise ValueError(f"every must be 1 to 60 seconds, not {every!r}")
    q_label, q_log = shlex.quote(label), '"$log"'
    clean = "tr '\\r' '\\n' | sed 's/\\x1b\\[[0-9;?]*[A-Za-z]//g' | grep -v '^[[:space:]]*$'"
    elapsed = ('e=$(( $(date +%s) - t0 )); if [ "$e" -ge 60 ]; then e="$((e / 60)) min $((e % 60)) s"; '
               'else e="$e s"; fi')
    parse = f's=$(tail -c 65536 {q_log} | {SUMMARIES[summary]}); ' if summary else "s=; "
    latest = f"l=$(tail -c 4096 {q_log} | {clean} | tail -n 1 | cut -c 1-100); " if last else "l=; "
    return (
        f"log={shlex.quote(log)}; {{ mkdir -p \"$(dirname \"$log\")\" && : > \"$log\"; }} 2>/dev/null"
        " || log=$(mktemp) || exit 1; t0=$(date +%s); "
        f'"$@" >> {q_log} 2>&1 </dev/null & pid=$!; n=0; '
        f"while kill -0 $pid 2>/dev/null; do sleep 1; n=$((n + 1)); "
        f"if [ $((n % {every})) -eq 0 ] && kill -0 $pid 2>/dev/null; then {elapsed}; {parse}{latest}"
        f"printf '%s: %s%s%s\\n' {q_label} \"$e\" \"${{s:+, $s}}\" \"${{l:+; last: $l}}\"; fi; done; "
        f"wait $pid; rc=$?; {elapsed}; "
        f"if [ $rc -eq 0 ]; then printf '%s: done in %s\\n' {q_label} \"$e\"; "
        f"else printf '%s: failed after %s (exit %s); the last lines of %s:\\n' {q_label} \"$e\" $rc {q_log} >&2; "
        f"tail -c 65536 {q_log} | {clean} | tail -n {tail} >&2; fi; exit $rc"
    )


def watched(command: StringCommand, label: str, log: str, summary: str = "", *, every: int = EVERY,
            last: bool = True) -> ProgressCommand:
    """``command`` run by ``watch_script`` (its words under ``sh -c``, the script's ``"$@"``), printed as it
    runs: at most one line every ``every`` seconds, its whole output kept in ``log`` on the board."""
    return ProgressCommand("sh -c", QuoteString(watch_script(label, log, summary, every, last)), "watch",
                           "sh -c", QuoteString(command))


def log_path(name: str) -> str:
    """The log file of one step on the board, e.g. ``build-ollama_r36.2.0-cu122-22.04.log``."""
    safe = "".join(char if char.isalnum() or char in "._-" else "_" for char in name)
    return f"{LOG_DIR}/{safe}.log"
