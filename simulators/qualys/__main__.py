"""``python -m simulators.qualys``: run the Qualys simulator until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

from simulators.qualys.server import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
