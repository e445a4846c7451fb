"""List helper names (module-level functions and classes, not tests or fixtures) defined in more
than one file of tests/ and bench/: each family is a helper written twice.

    python .ci/helper_families.py [REPO]
"""

import ast
import collections
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent)
defined: dict[str, set[str]] = collections.defaultdict(set)
for path in [*root.glob("tests/**/*.py"), *root.glob("bench/**/*.py")]:
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) or node.name.startswith("test_"):
            continue
        if any("fixture" in ast.unparse(d) for d in node.decorator_list):
            continue
        defined[node.name.lstrip("_")].add(str(path.relative_to(root)))
families = {name: sorted(files) for name, files in defined.items() if len(files) > 1}
for name, files in sorted(families.items()):
    print(f"{name}: {len(files)}  {', '.join(files)}")
print("families:", len(families), "definitions:", sum(len(f) for f in families.values()))
