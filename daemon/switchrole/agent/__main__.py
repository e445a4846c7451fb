"""``python -m switchrole.agent``: how the client starts a detached agent."""

import logging
import os

from .main import main

code = main()
logging.shutdown()
# Everything is cleaned up by now (socket, state files); don't wait for library threads
# (the file watcher) to notice the interpreter is going away.
os._exit(code)
