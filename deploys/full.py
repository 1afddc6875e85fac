"""The whole deployment, stage by stage, as the deployment log did it by hand:

    pyinfra inventories/lab.py deploys/full.py

Each stage reads the board's facts and changes only what differs; a second run changes nothing.
A board the preflight refuses (not a Jetson, unknown L4T, no docker or NVIDIA runtime, a full disk,
port 11434 taken) stops there with one line; the other boards go on. The opt-in board tuning (power
mode by name, headless, swap, docker's data root: stages/tuning.py) runs right after the preflight.
With `jetson_cache_host`, each image variant is built once and each model downloaded once for the
fleet (stages/cache.py). For a one-line summary of each board's facts without changing anything:
`pyinfra INVENTORY deploys/facts.py`.

This file calls `jetson_ollama.deploys.full`: an installed package runs the same, from any
directory, as `pyinfra INVENTORY jetson_ollama.deploys.full`.
"""

from jetson_ollama.deploys import full

full()
