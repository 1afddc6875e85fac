"""Stage 6: the board scripts start-ollama, quick-test, monitor and bench (in jetson_scripts_dir,
linked from /usr/local/bin):

    pyinfra inventories/lab.py deploys/monitoring.py
"""

from jetson_ollama.stages.monitoring import monitoring_scripts

monitoring_scripts()
