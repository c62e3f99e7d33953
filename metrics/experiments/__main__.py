"""``python -m metrics.experiments``: the experiments CLI (see :mod:`metrics.experiments.cli`)."""

import sys

from metrics.experiments.cli import main

sys.exit(main())
