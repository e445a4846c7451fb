"""``python -m switchrole.agent``: how the client starts a detached agent."""

import sys

from .main import main

sys.exit(main())
