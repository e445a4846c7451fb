"""``python -m switchrole``: the same as the ``switchrole`` console script."""

import sys

from .entry import main

sys.exit(main())
