"""Stage 5: the model set (ollama_models), pulled only where it fits, pinned by models.lock:

    pyinfra inventories/lab.py deploys/models.py

This file calls `jetson_ollama.deploys.models`: an installed package runs the same, from any
directory, as `pyinfra INVENTORY jetson_ollama.deploys.models`.
"""

from jetson_ollama.deploys import models

models()
