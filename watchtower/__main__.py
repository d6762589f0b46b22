"""``python -m watchtower`` is the ``watchtower`` command."""

import sys

from watchtower.cli import main

sys.exit(main())
