#!/bin/bash
# The zero-hardware demo: simulated boards of three Jetson profiles, then the full deploy on them
# (run as root). The boards stay up afterwards: `.venv/bin/python -m jetson_sim status`, `... down`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export JETSON_SIM_FLEET=${JETSON_SIM_FLEET:-demo}
# every board gets the largest model that stays green in its memory (as group_data/all.py would say)
export JETSON_SIM_HOST_DATA=${JETSON_SIM_HOST_DATA:-'{"ollama_models": "auto"}'}
if [ "$(.venv/bin/python -m jetson_sim status)" = "[]" ]; then
  .venv/bin/python -m jetson_sim up --boards 3 \
    --profile orin-nano-8gb-r36.2.0,orin-nano-super-r36.4.3,agx-orin-64gb-r36.4.4
fi
.venv/bin/pyinfra inventories/sim.py deploys/full.py -y
echo "Try: .venv/bin/python -m jetson_sim --fleet $JETSON_SIM_FLEET exec board1 -- quick-test"
