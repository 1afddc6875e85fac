"""Where the package keeps what it puts on boards: the board scripts (``files/``, stdlib Python run by the
board's own python3) and the Jinja templates (``templates/``: the board scripts of stage 6 and the
report). Both are package data, so an installed package finds them wherever it is run from."""

from pathlib import Path

PACKAGE = Path(__file__).parent
FILES = PACKAGE / "files"
TEMPLATES = PACKAGE / "templates"
