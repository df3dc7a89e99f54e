"""``python -m countersign_cli``: the same as the ``countersign`` command."""

import sys

from countersign_cli.main import main

sys.exit(main())
