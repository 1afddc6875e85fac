"""Stages 1-4 on simulated boards over SSH: converge, converge again with zero changes, verify, break
something, converge again. Expected tags come from the facts file (section 4), not from the code."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import REPO, board_host, board_of, fleet_name, sim

pytestmark = pytest.mark.sim

NANO, SUPER, NX, AGX = ("orin-nano-8gb-r36.2.0", "orin-nano-super-r36.4.3", "orin-nx-16gb-r35.4.1",
                        "agx-orin-64gb-r36.4.4")
# docs/facts.md section 4: the prebuilt dustynv/ollama image for each board's L4T (JetPack 6.0 images are not
# used on 6.1+; r36.4.4 has no image of its own, so the newest r36.4 family image)
EXPECTED_IMAGE = {NANO: "dustynv/ollama:r36.2.0", SUPER: "dustynv/ollama:r36.4.3",
                  AGX: "dustynv/ollama:0.6.8-r36.4-cu126-22.04", NX: "dustynv/ollama:r35.4.1"}


@pytest.fixture(scope="module")
def stage_fleet(sim_env):
    from jetson_sim.fleet import Fleet

    f = Fleet.load(fleet_name("s"))
    f.up(5, [NANO, SUPER, AGX, NX, "x86-server"])
    try:
        yield f
    finally:
        f.down()


def converge(fleet, sim_env, *extra, limit: str | None = None) -> dict:
    """Run deploys/full.py as a user would; return pyinfra's --json results (and its stderr)."""
    cmd = [str(Path(sys.executable).with_name("pyinfra")), "inventories/sim.py", "deploys/full.py", "-y", "--json",
           *extra]
    for name in (limit.split(",") if limit else []):
        cmd += ["--limit", name]
    proc = subprocess.run(cmd, cwd=REPO, env=dict(sim_env, JETSON_SIM_FLEET=fleet.name), capture_output=True,
                          text=True, timeout=600)
    try:
        results = json.loads(proc.stdout)["results"]
    except (json.JSONDecodeError, KeyError) as error:
        # every targeted host failed: pyinfra stops with "No hosts remaining!" and prints no JSON
        if "No hosts remaining!" not in proc.stderr:
            raise AssertionError(f"pyinfra gave no JSON (rc {proc.returncode}): {proc.stderr[-3000:]}") from error
        names = limit.split(",") if limit else list(fleet.boards)
        results = {"failed_hosts": names, "operations": [], "totals": {"success": 0}}
    results["stderr"], results["rc"] = proc.stderr, proc.returncode
    return results


def changed(results: dict) -> dict[str, list[str]]:
    return {op["name"]: op["success"] for op in results["operations"] if op["success"]}


def jetsons(fleet) -> str:
    return ",".join(b.name for b in fleet.boards.values() if b.profile in (NANO, SUPER, AGX, NX))


def test_converge_then_nothing_to_do(stage_fleet, sim_env):
    first = converge(stage_fleet, sim_env, limit=jetsons(stage_fleet))
    assert first["failed_hosts"] == [], first["stderr"][-2000:]
    assert first["totals"]["success"] > 0
    for profile, image in EXPECTED_IMAGE.items():
        host = board_host(stage_fleet, board_of(stage_fleet, profile))
        container = json.loads(host.check_output("docker inspect ollama"))[0]
        assert container["Config"]["Image"] == image, profile
        assert container["State"]["Running"]
        assert container["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert container["HostConfig"]["Runtime"] == "nvidia"
        assert all(m["Destination"] != "/data" and not m["Destination"].startswith("/data/")
                   for m in container["Mounts"])  # the jetson-containers /data clash never happens
        env = dict(e.split("=", 1) for e in container["Config"]["Env"])
        assert env["OLLAMA_HOST"] == "127.0.0.1:11434"  # never 0.0.0.0 unless asked
        assert env["JETSON_JETPACK"] == ("5" if profile == NX else "6")
        assert env["OLLAMA_MODELS"] != "/data/models/ollama/models"
        # the API answers from inside the container, and only on the board's loopback
        assert json.loads(host.check_output("docker exec ollama curl -fsS http://127.0.0.1:11434/api/version"))
        assert host.socket("tcp://127.0.0.1:11434").is_listening
        assert not host.socket("tcp://0.0.0.0:11434").is_listening
        assert host.file("/usr/local/bin/jetson-containers").is_symlink  # installed non-interactively

    second = converge(stage_fleet, sim_env, limit=jetsons(stage_fleet))
    assert second["totals"]["success"] == 0, changed(second)
    assert second["failed_hosts"] == []


def test_changing_one_setting_recreates_the_container_once(stage_fleet, sim_env):
    board = board_of(stage_fleet, SUPER)
    host = board_host(stage_fleet, board)
    before = host.check_output("docker inspect -f '{{.Id}}' ollama")
    run = converge(stage_fleet, sim_env, "--data", "ollama_keep_alive=30m", limit=board.name)
    assert run["failed_hosts"] == []
    assert [name for name in changed(run) if "container" in name.lower()], changed(run)
    after = host.check_output("docker inspect -f '{{.Id}}' ollama")
    assert after != before
    assert "OLLAMA_KEEP_ALIVE=30m" in host.check_output("docker inspect -f '{{json .Config.Env}}' ollama")
    again = converge(stage_fleet, sim_env, "--data", "ollama_keep_alive=30m", limit=board.name)
    assert again["totals"]["success"] == 0, changed(again)
    assert host.check_output("docker inspect -f '{{.Id}}' ollama") == after
    back = converge(stage_fleet, sim_env, limit=board.name)  # the default again: one more recreation
    assert back["failed_hosts"] == [] and back["totals"]["success"] > 0


def test_reboot_brings_the_service_back_without_a_deploy(stage_fleet, sim_env):
    board = board_of(stage_fleet, NANO)
    sim(sim_env, stage_fleet, "reboot", board.name)
    host = board_host(stage_fleet, board)
    deadline = time.monotonic() + 30
    while host.run("curl -fsS http://127.0.0.1:11434/api/version").rc != 0:
        assert time.monotonic() < deadline, "Ollama did not come back after the reboot"
        time.sleep(0.3)
    assert converge(stage_fleet, sim_env, limit=board.name)["totals"]["success"] == 0


def test_partitioned_board_fails_alone_and_is_finished_next_run(stage_fleet, sim_env):
    victim = board_of(stage_fleet, AGX)
    board_host(stage_fleet, victim).check_output("docker rm -f ollama")
    sim(sim_env, stage_fleet, "partition", victim.name, "on")
    try:
        run = converge(stage_fleet, sim_env, limit=jetsons(stage_fleet))
    finally:
        sim(sim_env, stage_fleet, "partition", victim.name, "off")
    assert run["failed_hosts"] == [victim.name]
    assert victim.name in run["stderr"]
    assert run["totals"]["success"] == 0  # the others were converged already and stayed so
    finished = converge(stage_fleet, sim_env, limit=jetsons(stage_fleet))
    assert finished["failed_hosts"] == [] and list(changed(finished).values())
    assert all(hosts == [victim.name] for hosts in changed(finished).values())


def refusal(run: dict, board) -> str:
    assert board.name in run["failed_hosts"], run["stderr"][-2000:]
    lines = [ln for ln in run["stderr"].splitlines() if f"jetson-ollama refused {board.name}:" in ln]
    assert len(lines) >= 1, run["stderr"][-2000:]
    return lines[0].split(f"jetson-ollama refused {board.name}: ", 1)[1]


def test_not_a_jetson_is_refused_and_the_others_go_on(stage_fleet, sim_env):
    x86 = board_of(stage_fleet, "x86-server")
    run = converge(stage_fleet, sim_env)
    assert refusal(run, x86) == "not a Jetson (x86_64, no /etc/nv_tegra_release)"
    assert run["failed_hosts"] == [x86.name]  # every Jetson converged (nothing left to do)
    assert board_host(stage_fleet, x86).run("docker inspect ollama").rc != 0  # nothing was changed there


def test_unknown_release_is_refused(stage_fleet, sim_env):
    board = board_of(stage_fleet, NX)
    host = board_host(stage_fleet, board)
    host.check_output("cp /etc/nv_tegra_release /root/nv_tegra_release.orig && "
                      "sed -i '1s/REVISION: 4.1/REVISION: 9.9/' /etc/nv_tegra_release")
    try:
        reason = refusal(converge(stage_fleet, sim_env, limit=board.name), board)
    finally:
        host.check_output("cp /root/nv_tegra_release.orig /etc/nv_tegra_release")
    assert "35.9.9" in reason


def test_docker_missing_is_refused(stage_fleet, sim_env):
    board = board_of(stage_fleet, NX)
    host = board_host(stage_fleet, board)
    host.check_output("mv /usr/bin/docker /usr/bin/docker.away")
    try:
        reason = refusal(converge(stage_fleet, sim_env, limit=board.name), board)
    finally:
        host.check_output("mv /usr/bin/docker.away /usr/bin/docker")
    assert reason.startswith("docker is not installed")


def test_missing_nvidia_runtime_is_refused_unless_opted_in(stage_fleet, sim_env):
    board = board_of(stage_fleet, SUPER)
    host = board_host(stage_fleet, board)
    original = json.loads(host.file("/etc/docker/daemon.json").content_string)
    bare = {k: v for k, v in original.items() if k != "runtimes"}
    host.check_output(f"echo '{json.dumps(bare)}' > /etc/docker/daemon.json && systemctl restart docker")
    reason = refusal(converge(stage_fleet, sim_env, limit=board.name), board)
    assert "no nvidia runtime" in reason and "jetson_configure_docker_runtime" in reason

    fixed = converge(stage_fleet, sim_env, "--data", "jetson_configure_docker_runtime=true", limit=board.name)
    assert fixed["failed_hosts"] == [], fixed["stderr"][-2000:]
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"
    assert daemon["registry-mirrors"] == original["registry-mirrors"]  # the site's other keys are kept
    assert "nvidia" in host.check_output("docker info --format '{{json .Runtimes}}'")
    assert host.check_output("docker inspect -f '{{.State.Running}}' ollama") == "true"
    again = converge(stage_fleet, sim_env, "--data", "jetson_configure_docker_runtime=true", limit=board.name)
    assert again["totals"]["success"] == 0, changed(again)


def test_full_disk_is_refused_with_the_figures(stage_fleet, sim_env):
    board = board_of(stage_fleet, NX)
    host = board_host(stage_fleet, board)
    host.check_output("docker rm -f ollama >/dev/null; docker rmi -f dustynv/ollama:r35.4.1 >/dev/null")
    sim(sim_env, stage_fleet, "fill-disk", board.name)
    try:
        reason = refusal(converge(stage_fleet, sim_env, limit=board.name), board)
        assert host.run("docker image inspect dustynv/ollama:r35.4.1").rc != 0  # nothing was pulled
    finally:
        sim(sim_env, stage_fleet, "fill-disk", board.name, "--release")
    assert reason.startswith("0.0 GB free on /var/lib/docker") and "needs 4 GB" in reason
    assert "dustynv/ollama:r35.4.1" in reason


def test_port_taken_by_a_native_ollama_is_refused(stage_fleet, sim_env):
    board = board_of(stage_fleet, NANO)
    host = board_host(stage_fleet, board)
    host.check_output("docker rm -f ollama >/dev/null")
    # a native install as the official script makes it: a systemd unit on the same port
    host.check_output("docker cp $(docker create dustynv/ollama:r36.2.0):/usr/local/bin/ollama /usr/local/bin/ollama"
                      " && printf '[Service]\\nExecStart=/usr/local/bin/ollama serve\\nRestart=always\\n' "
                      "> /etc/systemd/system/ollama.service && systemctl daemon-reload && systemctl start ollama"
                      " && for i in $(seq 50); do curl -fs http://127.0.0.1:11434/ && exit 0; sleep 0.1; done")
    try:
        reason = refusal(converge(stage_fleet, sim_env, limit=board.name), board)
    finally:
        host.check_output("systemctl stop ollama && rm /etc/systemd/system/ollama.service && systemctl daemon-reload")
    assert reason.startswith("port 11434 is already taken by") and "127.0.0.1" in reason
    assert converge(stage_fleet, sim_env, limit=board.name)["failed_hosts"] == []


def test_build_strategy_builds_the_predicted_tag_and_reuse_checks_it(stage_fleet, sim_env):
    board = board_of(stage_fleet, NANO)
    host = board_host(stage_fleet, board)
    built = converge(stage_fleet, sim_env, "--data", "jetson_image_strategy=build", limit=board.name)
    assert built["failed_hosts"] == [], built["stderr"][-2000:]
    # docs/facts.md section 4: jetson-containers of the 2025-07 era names the r36.2.0 build like this
    assert host.check_output("docker inspect -f '{{.Config.Image}}' ollama") == "ollama:r36.2.0-cu122-22.04"
    assert "jetson-containers build" not in host.check_output("ps -eo args")  # nothing left running
    again = converge(stage_fleet, sim_env, "--data", "jetson_image_strategy=build", limit=board.name)
    assert again["totals"]["success"] == 0, changed(again)

    reuse = converge(stage_fleet, sim_env, "--data", "jetson_image_strategy=reuse", "--data",
                     "jetson_image=ollama:r36.2.0-cu122-22.04", limit=board.name)
    assert reuse["failed_hosts"] == [] and reuse["totals"]["success"] == 0, changed(reuse)
    host.check_output("docker pull -q dustynv/ollama:r36.4.3 >/dev/null")
    wrong = converge(stage_fleet, sim_env, "--data", "jetson_image_strategy=reuse", "--data",
                     "jetson_image=dustynv/ollama:r36.4.3", limit=board.name)
    assert "was not built for L4T 36.2.0" in refusal(wrong, board)
    assert host.check_output("docker inspect -f '{{.Config.Image}}' ollama") == "ollama:r36.2.0-cu122-22.04"


def test_bad_host_data_is_refused_before_anything_changes(stage_fleet, sim_env):
    # the repo-root config.py checks every host's data before pyinfra connects to any (hostdata.py)
    board = board_of(stage_fleet, SUPER)
    before = board_host(stage_fleet, board).check_output("docker inspect --format '{{.Id}}' ollama")
    proc = subprocess.run([str(Path(sys.executable).with_name("pyinfra")), "inventories/sim.py", "deploys/full.py",
                           "-y", "--data", "ollama_container_models_dir=/data/models", "--limit", board.name],
                          cwd=REPO, env=dict(sim_env, JETSON_SIM_FLEET=stage_fleet.name), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0
    assert "ollama_container_models_dir: must not be /data" in proc.stdout + proc.stderr
    assert "no host was contacted" in proc.stdout + proc.stderr
    assert board_host(stage_fleet, board).check_output("docker inspect --format '{{.Id}}' ollama") == before


def test_partition_mid_run_fails_that_board_alone(stage_fleet, sim_env):
    """The link dies while pyinfra holds the board's SSH session: that board fails within the dead-link
    timeout (not the minutes TCP takes), the others finish, and the next run finishes it."""
    victim, other = board_of(stage_fleet, AGX), board_of(stage_fleet, SUPER)
    cmd = [str(Path(sys.executable).with_name("pyinfra")), "inventories/sim.py", "deploys/full.py", "-y", "--json",
           "--data", "ollama_keep_alive=9m", "--limit", victim.name, "--limit", other.name]
    proc = subprocess.Popen(cmd, cwd=REPO, env=dict(sim_env, JETSON_SIM_FLEET=stage_fleet.name), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr = []
    try:
        for line in proc.stderr:  # cut the link once the operations have begun
            stderr.append(line)
            if "Starting operation: Ollama service" in line:
                sim(sim_env, stage_fleet, "partition", victim.name, "on")
                break
        stderr += proc.stderr.readlines()
        out = proc.stdout.read()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        sim(sim_env, stage_fleet, "partition", victim.name, "off")
    assert out.strip(), f"pyinfra printed no JSON (rc {proc.returncode}):\n" + "".join(stderr)[-4000:]
    results = json.loads(out)["results"]
    assert results["failed_hosts"] == [victim.name], "".join(stderr)[-2000:]
    assert any(victim.name in line and "Error" in line for line in stderr)
    assert "OLLAMA_KEEP_ALIVE=9m" in board_host(stage_fleet, other).check_output(
        "docker inspect -f '{{json .Config.Env}}' ollama")
    finished = converge(stage_fleet, sim_env, "--data", "ollama_keep_alive=9m", limit=f"{victim.name},{other.name}")
    assert finished["failed_hosts"] == [] and all(hosts == [victim.name] for hosts in changed(finished).values())
    assert converge(stage_fleet, sim_env, limit=f"{victim.name},{other.name}")["failed_hosts"] == []
