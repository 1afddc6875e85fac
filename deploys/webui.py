"""The opt-in web UI (`ollama_webui: true`, with `ollama_tls`): Open WebUI on the board, served by the
HTTPS proxy behind the API keys (run deploys/access.py, or the full deploy, for the proxy's side):

    pyinfra inventories/lab.py deploys/webui.py

This file calls `jetson_ollama.deploys.webui`: an installed package runs the same, from any
directory, as `pyinfra INVENTORY jetson_ollama.deploys.webui`.
"""

from jetson_ollama.deploys import webui

webui()
