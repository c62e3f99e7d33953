"""``python -m reports ...``: see :mod:`reports.cli`."""

import sys

from reports.cli import main

sys.exit(main())
