"""Stage 3: the Ollama image with the right tag:

    pyinfra inventories/lab.py deploys/image.py
"""

from jetson_ollama.stages.image import ollama_image

ollama_image()
