"""The whole deployment, stage by stage, as the deployment log did it by hand:

    pyinfra inventories/lab.py deploys/full.py

Each stage reads the board's facts and changes only what differs; a second run changes nothing.
A board the preflight refuses (not a Jetson, unknown L4T, no docker or NVIDIA runtime, a full disk,
port 11434 taken) stops there with one line; the other boards go on. The opt-in board tuning (power
mode by name, headless, swap, docker's data root: stages/tuning.py) runs right after the preflight.
With `jetson_cache_host`, each image variant is built once and each model downloaded once for the
fleet (stages/cache.py). For a one-line summary of each board's facts without changing anything:
`pyinfra INVENTORY deploys/facts.py`.
"""

from jetson_ollama.stages.access import api_access
from jetson_ollama.stages.board_scripts import board_scripts
from jetson_ollama.stages.cache import fleet_cache
from jetson_ollama.stages.image import ollama_image
from jetson_ollama.stages.jetson_containers import install_jetson_containers
from jetson_ollama.stages.models import ollama_models
from jetson_ollama.stages.preflight import preflight
from jetson_ollama.stages.service import ollama_service
from jetson_ollama.stages.tuning import board_tuning

preflight()
board_tuning()
fleet_cache()
install_jetson_containers()
ollama_image()
api_access()
ollama_service()
ollama_models()
board_scripts()
