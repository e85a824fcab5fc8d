"""``python -m qom.cli``: the ``qomsim`` command."""

import sys

from qom.cli.main import main

sys.exit(main())
