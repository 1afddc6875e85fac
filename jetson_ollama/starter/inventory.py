"""The boards of this project, by board class: put your boards' addresses in, then run

    pyinfra inventory.py jetson_ollama.deploys.full

Groups are board classes, so per-class settings live in one place (the data dict of the group below, or
`group_data/<group>.py`); settings for every board are in `group_data/all.py`.
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
    # sudo's password, only for the first run of `pyinfra inventory.py jetson_ollama.deploys.bootstrap`
    # (it installs a NOPASSWD drop-in): from the environment, never from a file
    "_sudo_password": os.environ.get("JETSON_SUDO_PASSWORD"),
}

# Put your boards in: one (name, {"ssh_hostname": address}) per board, in the group of its class.
# A group left empty is fine; delete the ones you do not have.

# 8 GB boards: a modest context, one model loaded at a time
orin_nano_8gb = (
    [
        # ("nano-01", {"ssh_hostname": "192.168.55.101"}),
    ],
    {**_ssh, "ollama_context_length": 4096, "ollama_max_loaded_models": 1},
)

orin_nx_16gb = (
    [
        # ("nx-01", {"ssh_hostname": "192.168.55.111"}),
    ],
    {**_ssh, "ollama_context_length": 8192},
)

agx_orin_64gb = (
    [
        # ("agx-01", {"ssh_hostname": "192.168.55.121"}),
    ],
    {**_ssh, "ollama_context_length": 16384, "ollama_max_loaded_models": 2, "ollama_num_parallel": 2},
)
