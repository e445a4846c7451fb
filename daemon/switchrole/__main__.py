"""``python -m switchrole``: the same as the ``switchrole`` console script."""

import sys

from .cli import main

sys.exit(main())
