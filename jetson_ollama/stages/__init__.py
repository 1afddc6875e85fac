"""One `@deploy` per stage of the deployment log, in the order `deploys/full.py` runs them."""
