"""python-dotenv's parser (`dotenv.parser`), loaded without running the package's `__init__`.

`import dotenv.parser` first runs `dotenv/__init__.py`, which imports the whole of its API
(`dotenv.main`, and with it logging and tempfile): about 7 ms, a sixteenth of a whole
non-interactive setup, for a module that itself needs only `codecs`, `re` and `typing`. This
loads the package's own `parser.py` and registers it under its own name, so that a later
`import dotenv` (whose `main` imports `.parser`) shares this very module. Where the file is
not where a package keeps its modules (a zipped install, say), it is imported as usual.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_NAME = "dotenv.parser"


def parser() -> ModuleType:
    """The `dotenv.parser` module, loaded once."""
    loaded = sys.modules.get(_NAME)
    if loaded is not None:
        return loaded
    package = importlib.util.find_spec("dotenv")  # (finds the package; imports nothing)
    places = package.submodule_search_locations if package else None
    source = Path(next(iter(places)), "parser.py") if places else None
    spec = importlib.util.spec_from_file_location(_NAME, source) if source else None
    if spec is None or spec.loader is None or not source or not source.is_file():
        import dotenv.parser

        return dotenv.parser
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_NAME]
        raise
    return module
