#!/usr/bin/env python3
# SIMULATED jetson-containers: the package exports what its modules define, as dusty-nv/jetson-containers
# jetson_containers/__init__.py does (there, after utils.check_dependencies() pip-installs what is
# missing; the simulated tools need only python's standard library). The ollama config.py imports the
# L4T names from here: `from jetson_containers import JETPACK_VERSION, ...`
from .packages import *
from .container import *
from .l4t_version import *
