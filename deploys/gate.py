"""The rollout's health gate, after deploys/full.py on a wave of boards: API, version, locked models,
one generation all on the GPU, RAM below red; a board that fails gets its previous Ollama container
back and stops with one line, a board that passes drops it:

    pyinfra inventories/lab.py deploys/gate.py

This file calls `jetson_ollama.deploys.gate`: an installed package runs the same, from any
directory, as `pyinfra INVENTORY jetson_ollama.deploys.gate`.
"""

from jetson_ollama.deploys import gate

gate()
