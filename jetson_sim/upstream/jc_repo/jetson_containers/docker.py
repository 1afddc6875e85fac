"""Running the docker CLI as upstream does: with sudo unless root or in the docker group."""

import grp
import os
import shutil
import subprocess
import sys


def docker(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run `docker ARGS`; exit with a clear message when there is no docker command."""
    if not shutil.which("docker"):
        sys.exit("-- Error:  the `docker` command was not found (install docker and the NVIDIA container runtime)")
    return subprocess.run([*sudo_prefix(), "docker", *args], **kwargs)


def sudo_prefix() -> list[str]:
    # also no sudo when it is absent, or when DOCKER_HOST names the daemon to use
    if os.geteuid() == 0 or os.environ.get("DOCKER_HOST") or not shutil.which("sudo"):
        return []
    try:
        return [] if grp.getgrnam("docker").gr_gid in os.getgroups() else ["sudo"]
    except KeyError:
        return ["sudo"]


def require_daemon() -> None:
    """Fail early, with docker's own words, when the daemon is not running."""
    result = docker("info", "--format", "{{.ServerVersion}}", capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        sys.exit("-- Error:  cannot reach the Docker daemon (is docker.service running?)")
