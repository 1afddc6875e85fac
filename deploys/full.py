"""The whole deployment, stage by stage:

    pyinfra inventories/sim.py deploys/full.py

Stages are included below in the order they run; later stages will be added after the facts, in order.
"""

from pyinfra import local

# pyinfra 3.10 resolves this against the directory pyinfra was started in: run from the repo root
local.include("deploys/facts.py")
