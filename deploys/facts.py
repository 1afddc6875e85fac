"""Print one line of board facts per host. It only reads: no operations, nothing changes.

    pyinfra inventories/sim.py deploys/facts.py

This file calls `jetson_ollama.deploys.facts`: an installed package runs the same, from any
directory, as `pyinfra INVENTORY jetson_ollama.deploys.facts`.
"""

from jetson_ollama.deploys import facts

facts()
