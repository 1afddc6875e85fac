"""Stage 5: the model set (ollama_models), pulled only where it fits, pinned by models.lock:

    pyinfra inventories/lab.py deploys/models.py
"""

from jetson_ollama.stages.models import ollama_models

ollama_models()
