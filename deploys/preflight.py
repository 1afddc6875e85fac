"""Stage 1: verify the board (refuses, with one line, boards it must not touch):

    pyinfra inventories/lab.py deploys/preflight.py
"""

from jetson_ollama.stages.preflight import preflight

preflight()
