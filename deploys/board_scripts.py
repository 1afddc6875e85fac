"""Stage 6: the board scripts start-ollama, quick-test, monitor and bench (in jetson_scripts_dir,
linked from /usr/local/bin):

    pyinfra inventories/lab.py deploys/board_scripts.py
"""

from jetson_ollama.stages.board_scripts import board_scripts

board_scripts()
