"""``python -m watchtower`` is the ``watchtower`` command."""

import sys

from watchtower.app.cli import main

sys.exit(main())
