"""Stage 6: the board scripts start-ollama, quick-test, monitor and bench (in jetson_scripts_dir,
linked from /usr/local/bin):

    pyinfra inventories/lab.py deploys/board_scripts.py

This file calls `jetson_ollama.deploys.board_scripts`: an installed package runs the same, from any
directory, as `pyinfra INVENTORY jetson_ollama.deploys.board_scripts`.
"""

from jetson_ollama.deploys import board_scripts

board_scripts()
