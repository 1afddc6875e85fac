"""The board's Prometheus metrics: the node exporter's arguments (facts/metrics.py says where the package
reads them) and the textfile collector, ``files/jetson-metrics.py`` run by a systemd timer."""

from __future__ import annotations

import ipaddress
import posixpath
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.facts.files import File
from pyinfra.facts.systemd import SystemdEnabled
from pyinfra.operations import files

from ..facts.metrics import EXPORTER_DEFAULTS, ExporterArgs
from ..resources import FILES

EXPORTER = "prometheus-node-exporter"  # the package and its service
EXPORTER_PORT = 9100  # the exporter's default --web.listen-address, :9100 (its man page)
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"  # the package's textfile directory (facts/metrics.py)
COLLECTOR = FILES / "jetson-metrics.py"
COLLECTOR_DEST = "/usr/local/lib/jetson-ollama/jetson-metrics.py"
UNIT_NAME = "jetson-ollama-metrics"
SERVICE_PATH = f"/etc/systemd/system/{UNIT_NAME}.service"
TIMER_PATH = f"/etc/systemd/system/{UNIT_NAME}.timer"
# the packaged file's comment, kept above the line we write (Debian 1.5.0-1 etc/default/prometheus-node-exporter)
DEFAULTS_HEAD = """\
# Set the command-line arguments to pass to the server.
# Due to shell escaping, to pass backslashes for regexes, you need to double
# them (\\\\d for \\d). If running under systemd, you need to double them again
# (\\\\\\\\d to mean \\d), and escape newlines too.
"""


def exporter_arguments(address: str, port: int = EXPORTER_PORT, textfile_dir: str = TEXTFILE_DIR) -> str:
    """The ARGS the exporter gets: where it listens and the textfile directory it reads."""
    return f"--web.listen-address={address}:{port} --collector.textfile.directory={textfile_dir}"


def service_text(api: str, textfile_dir: str = TEXTFILE_DIR) -> str:
    """The oneshot unit that writes one sample (root: tegrastats and /var/lib/jetson-ollama)."""
    command = " ".join(shlex.quote(word) for word in
                       ("/usr/bin/python3", COLLECTOR_DEST, "--api", api, "--textfile-dir", textfile_dir))
    return f"""[Unit]
Description=jetson-ollama: one sample of the board's metrics for the node exporter
After=network.target

[Service]
Type=oneshot
ExecStart={command}
"""


def timer_text(interval: int) -> str:
    """The timer that runs the sample every `interval` seconds, the first one right after it starts."""
    return f"""[Unit]
Description=jetson-ollama: the board's metrics every {interval} s

[Timer]
OnActiveSec=1s
OnUnitActiveSec={interval}s
AccuracySec=1s

[Install]
WantedBy=timers.target
"""


def _defaults_line(args: str) -> str:
    return f"ARGS={shlex.quote(args)}"


@operation()
def exporter_args(address: str, port: int = EXPORTER_PORT, textfile_dir: str = TEXTFILE_DIR):
    """
    Ensure the node exporter listens on ``address:port`` only and reads its textfile directory.

    + address: the IPv4 address to listen on: ``127.0.0.1``, or the board's LAN address
    + port: the exporter's TCP port
    + textfile_dir: the textfile collector's directory

    Only the ``ARGS=`` line of ``/etc/default/prometheus-node-exporter`` is rewritten (the packaged comments
    stay); a board without the file (the package not yet installed) gets it whole, so that the package,
    installed after it with ``--force-confold``, starts the exporter with these arguments from the first.
    The service is not restarted here: restart it with ``_if`` on this operation.

    **Examples:**

    .. code:: python

        from jetson_ollama.operations import metrics

        metrics.exporter_args(name="The exporter on 127.0.0.1:9100", address="127.0.0.1", _sudo=True)
    """
    try:
        ipaddress.IPv4Address(address)
    except (ValueError, TypeError):
        raise OperationError(f"address must be an IPv4 address like 127.0.0.1, not {address!r}") from None
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise OperationError(f"port must be a TCP port 1-65535, not {port!r}")
    if not isinstance(textfile_dir, str) or not posixpath.isabs(textfile_dir) or " " in textfile_dir:
        raise OperationError(f"textfile_dir must be an absolute path without spaces, not {textfile_dir!r}")
    wanted = exporter_arguments(address, port, textfile_dir)
    current = host.get_fact(ExporterArgs)
    if current["present"] and current["args"] == wanted:
        host.noop(f"the exporter already runs with {wanted}")
        return
    line = _defaults_line(wanted)
    if not current["present"]:
        yield from files.put._inner(src=StringIO(DEFAULTS_HEAD + line + "\n"), dest=EXPORTER_DEFAULTS, mode="644")
        return
    yield StringCommand("sed -i -E", QuoteString("/^[[:space:]]*ARGS=/d"), QuoteString(EXPORTER_DEFAULTS),
                        "&& printf '%s\\n'", QuoteString(line), ">>", QuoteString(EXPORTER_DEFAULTS))


@operation()
def collector_removed():
    """
    Ensure the metrics collector is gone: its timer stopped and disabled, its units and script removed.
    The node exporter itself is left alone (it may serve others); the stage stops ours.
    """
    present = [path for path in (TIMER_PATH, SERVICE_PATH, COLLECTOR_DEST) if host.get_fact(File, path=path)]
    enabled = host.get_fact(SystemdEnabled).get(f"{UNIT_NAME}.timer", False)
    if not present and not enabled:
        host.noop("no metrics collector of ours")
        return
    yield StringCommand("systemctl disable --now", QuoteString(f"{UNIT_NAME}.timer"), "2>/dev/null; rm -f",
                        *(QuoteString(path) for path in (TIMER_PATH, SERVICE_PATH, COLLECTOR_DEST)),
                        "&& systemctl daemon-reload")
