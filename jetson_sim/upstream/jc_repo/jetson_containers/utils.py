#!/usr/bin/env python3
# SIMULATED jetson-containers: helpers of dusty-nv/jetson-containers jetson_containers/utils.py (the
# sudo rule) and the docker CLI runner the simulated build and autotag share.
import grp
import os
import shutil
import subprocess
import sys


def get_repo_dir():
    """The root of the jetson-containers checkout"""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sudo_prefix(group_id=None):
    """['sudo'] unless root or in the docker group, as upstream's sudo_prefix(); here also no sudo when it
    is absent or $DOCKER_HOST names the daemon to use"""
    if os.geteuid() == 0 or os.environ.get('DOCKER_HOST') or not shutil.which('sudo'):
        return []
    try:
        return [] if grp.getgrnam('docker').gr_gid in os.getgroups() else ['sudo']
    except KeyError:
        return ['sudo']


def docker(*args, env=None, **kwargs):
    """Run `docker ARGS`; exit with a clear message when there is no docker command"""
    if not shutil.which('docker'):
        sys.exit("-- Error:  the `docker` command was not found (install docker and the NVIDIA container runtime)")
    return subprocess.run([*sudo_prefix(), 'docker', *args], env=None if env is None else {**os.environ, **env},
                          **kwargs)


def require_daemon():
    """Fail early, with docker's own words, when the daemon is not running"""
    result = docker('info', '--format', '{{.ServerVersion}}', capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        sys.exit("-- Error:  cannot reach the Docker daemon (is docker.service running?)")


def query_yes_no(question, default="no"):
    """Upstream's prompt: it blocks on an open but silent stdin, and a closed one is an error"""
    valid = {"yes": True, "y": True, "ye": True, "no": False, "n": False}
    prompt = " [Y/n] " if default == "yes" else " [y/N] "
    while True:
        print(question + prompt, end="", flush=True)
        try:
            choice = input().lower()
        except EOFError:
            sys.exit("EOFError: EOF when reading a line")
        if choice == "":
            return valid[default]
        if choice in valid:
            return valid[choice]
        print("Please respond with 'yes' or 'no' (or 'y' or 'n').", flush=True)
