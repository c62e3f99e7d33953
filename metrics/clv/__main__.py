"""``python -m metrics.clv``: the CLV command line (see :mod:`metrics.clv.cli`)."""

import sys

from metrics.clv.cli import main

sys.exit(main())
