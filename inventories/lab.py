"""Example inventory for real boards: copy it, put your boards' addresses in, run

    pyinfra inventories/lab.py deploys/full.py

Groups are board classes, so per-class settings live in one place (`inventories/group_data/<group>.py`,
or the data dict of the group below). Every `jetson_*` / `ollama_*` key and its default is listed in
the README and in `jetson_ollama/defaults.py`.
"""

import os

# SSH as the board's own user with key auth; host keys are checked strictly against a known_hosts
# you fill once (ssh-keyscan -t ed25519 <board> >> ~/.ssh/known_hosts, after checking the fingerprint)
_ssh = {
    "ssh_user": "jetson",
    "ssh_key": "~/.ssh/id_ed25519",
    "ssh_known_hosts_file": "~/.ssh/known_hosts",
    "ssh_strict_host_key_checking": "yes",
    "_sudo": True,
    # sudo's password, only for the first run of deploys/bootstrap.py (it installs a NOPASSWD drop-in):
    # from the environment, never from a file in the repository
    "_sudo_password": os.environ.get("JETSON_SUDO_PASSWORD"),
}

# The models: "auto" is the largest model of ollama_models_auto (qwen3:32b down to qwen2.5:0.5b) that the
# board's memory holds comfortably (green: under 70 % of RAM with this group's context), e.g. qwen3:4b on
# an Orin Nano 8GB. Name the models instead (ollama_models: ["qwen2.5:7b"]) to choose them yourself.

# 8 GB boards: a modest context, one model loaded at a time (the log's board hit 96 % RAM with qwen3:8b)
orin_nano_8gb = (
    [
        ("nano-01", {"ssh_hostname": "192.168.55.101"}),
        ("nano-02", {"ssh_hostname": "192.168.55.102"}),
    ],
    {**_ssh, "ollama_models": "auto", "ollama_context_length": 4096, "ollama_max_loaded_models": 1},
)

orin_nx_16gb = (
    [("nx-01", {"ssh_hostname": "192.168.55.111"})],
    {**_ssh, "ollama_models": "auto", "ollama_context_length": 8192},
)

agx_orin_64gb = (
    [("agx-01", {"ssh_hostname": "192.168.55.121"})],
    {**_ssh, "ollama_models": "auto", "ollama_context_length": 16384, "ollama_max_loaded_models": 2,
     "ollama_num_parallel": 2},
)
