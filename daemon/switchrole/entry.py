"""The ``switchrole`` console script: tab completion goes straight to its module, everything
else to ``cli``.

A TAB must not pay for the client's imports (socket, json, the renderers): the shells call
``switchrole __complete`` at every one, and a 500-profile config leaves little of the 100 ms.
"""

from __future__ import annotations

import sys


def main() -> int:
    if sys.argv[1:2] == ["__complete"]:
        from .completion import main as complete

        return complete(sys.argv[2:])
    from .cli import main as cli_main

    return cli_main()
