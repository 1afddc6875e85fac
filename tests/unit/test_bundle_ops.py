"""Installing from an offline bundle: the pyinfra-testing fixtures of operations.bundle
(tests/unit/operations/bundle.<operation>/; ``{repo}`` stands for this checkout), and the checks the
image load runs on the board, run for real with sha256sum and a stand-in docker."""

from __future__ import annotations

import hashlib
import inspect
import os
import shlex
import subprocess
from pathlib import Path
from unittest.mock import patch

from pyinfra.api import FileUploadCommand, StringCommand
from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.operations import make_operation_tests
from pyinfra_testing.util import FakeState, create_host

from jetson_ollama.operations import bundle

REPO = Path(__file__).parents[2]
FIXTURES = Path(__file__).parent / "operations"
OPERATIONS = [f"bundle.{name}" for name, function in inspect.getmembers(bundle, inspect.isfunction)
              if hasattr(function, "_inner") and function.__module__ == bundle.__name__]


def _with_repo(value):
    if isinstance(value, str):
        return value.replace("{repo}", str(REPO))
    if isinstance(value, list):
        return [_with_repo(item) for item in value]
    if isinstance(value, dict):
        return {_with_repo(key): _with_repo(item) for key, item in value.items()}
    return value


def _with_local_files(test):
    """``files.put`` asks pathlib whether ``src`` is a file, which pyinfra-testing's fake does not answer."""

    def run(self, name, data):
        with patch("pathlib.Path.is_file", lambda path: os.path.isfile(str(path))), \
                patch.dict("pyinfra.api.util.FILE_SHAS"):
            test(self, name, _with_repo(data))

    return run


for _op_path in OPERATIONS:
    _tests = make_operation_tests("jetson_ollama.operations", _op_path, FIXTURES / _op_path)
    _tests._test = _with_local_files(_tests._test)
    globals()[f"TestFixtures_{_op_path.replace('.', '_')}"] = _tests
    del _tests


def test_the_operations_are_the_expected_ones():
    assert OPERATIONS == ["bundle.image_loaded", "bundle.model_copied"]


def _load_commands(archive: str, sha256: str, image_id: str) -> list[str]:
    staged = str(Path(archive).parent / (sha256[7:39] + ".tar"))
    state = FakeState()
    host = create_host(state, facts={"containers.DockerImages": [], "files.File": {f"path={staged}": None},
                                     "files.Directory": {f"path={staged}": None,
                                                         f"path={Path(archive).parent}": {"mode": 755}}})
    with ctx_state.use(state), ctx_host.use(host):
        commands = list(bundle.image_loaded._inner(ref="dustynv/ollama:r36.4.3", src=archive, sha256=sha256,
                                                   image_id=image_id, staging=str(Path(archive).parent)))
    # the upload, as a copy: the board's side of it is what is checked here
    return [f"cp {shlex.quote(str(command.src))} {shlex.quote(command.dest)}" if isinstance(command, FileUploadCommand)
            else command.get_raw_value()
            for command in commands if isinstance(command, (StringCommand, FileUploadCommand))]


def _fake_docker(bin_dir: Path, image_id: str) -> None:
    """`docker load` records its archive; `docker image inspect -f ...` answers IMAGE_ID."""
    docker = bin_dir / "docker"
    docker.write_text("#!/bin/sh\n"
                      f'if [ "$1" = load ]; then echo "$3" >> "{bin_dir}/loaded"; exit 0; fi\n'
                      f'if [ "$1" = image ]; then echo "{image_id}"; exit 0; fi\nexit 1\n')
    docker.chmod(0o755)


def _run(commands: list[str], bin_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    return subprocess.run(["sh", "-c", " && ".join(commands)], capture_output=True, text=True, env=env, timeout=30)


def test_the_load_checks_the_archive_and_the_id_it_gave(tmp_path):
    archive = tmp_path / "a.tar"
    archive.write_bytes(b"an image archive")
    digest = "sha256:" + hashlib.sha256(b"an image archive").hexdigest()
    image_id = "sha256:" + "c1" * 32
    _fake_docker(tmp_path, image_id)
    steps = _load_commands(str(archive), digest, image_id)
    ok = _run(steps, tmp_path)
    assert ok.returncode == 0, ok.stderr
    staged = tmp_path / (digest[7:39] + ".tar")
    assert (tmp_path / "loaded").read_text().strip() == str(staged) and not staged.exists()  # loaded, removed

    archive.write_bytes(b"an image archivf")  # bit rot on the way: same size, other bytes
    rotten = _run(steps, tmp_path)
    assert rotten.returncode == 1 and not staged.exists()  # removed, so the next run puts it again
    assert rotten.stderr.strip() == f"the archive of dustynv/ollama:r36.4.3 does not match its {digest[:19]}..."
    assert (tmp_path / "loaded").read_text().count("\n") == 1  # never loaded

    archive.write_bytes(b"an image archive")
    _fake_docker(tmp_path, "sha256:" + "d2" * 32)  # the tag names another image after the load
    other = _run(steps, tmp_path)
    assert other.returncode == 1
    assert other.stderr.strip() == f"dustynv/ollama:r36.4.3 is not the image {image_id[:19]}... after the load"
