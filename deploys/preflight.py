"""Stage 1: verify the board (refuses, with one line, boards it must not touch):

    pyinfra inventories/lab.py deploys/preflight.py

This file calls `jetson_ollama.deploys.preflight`: an installed package runs the same, from any
directory, as `pyinfra INVENTORY jetson_ollama.deploys.preflight`.
"""

from jetson_ollama.deploys import preflight

preflight()
