"""``python -m simulators.servicenow``: run the ServiceNow simulator until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

from simulators.servicenow.server import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
