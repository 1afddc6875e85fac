"""Stage 3: the Ollama image with the right tag:

    pyinfra inventories/lab.py deploys/image.py

This file calls `jetson_ollama.deploys.image`: an installed package runs the same, from any
directory, as `pyinfra INVENTORY jetson_ollama.deploys.image`.
"""

from jetson_ollama.deploys import image

image()
