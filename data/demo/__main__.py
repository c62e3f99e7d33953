"""``python -m data.demo``: generate the demo warehouse (see :mod:`data.demo.generator`)."""

import sys

from data.demo.generator import main

sys.exit(main())
