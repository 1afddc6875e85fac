"""SIMULATED jetson-containers: the python side of build, show, list and autotag (stdlib only)."""
