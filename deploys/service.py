"""Stage 4: the Ollama container as a service:

    pyinfra inventories/lab.py deploys/service.py
"""

from jetson_ollama.stages.service import ollama_service

ollama_service()
