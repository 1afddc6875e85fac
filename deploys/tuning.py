"""Board tuning alone, after the preflight: the opt-in jetson_* tuning keys (power mode by name,
jetson_clocks at boot, headless, nvargus-daemon off, zram off, a swapfile, docker's data root),
with one reboot at the end when a change waits for it and jetson_allow_reboot is set:

    pyinfra inventories/lab.py deploys/tuning.py --data jetson_power_mode=MAXN_SUPER

This file calls `jetson_ollama.deploys.tuning`: an installed package runs the same, from any
directory, as `pyinfra INVENTORY jetson_ollama.deploys.tuning`.
"""

from jetson_ollama.deploys import tuning

tuning()
