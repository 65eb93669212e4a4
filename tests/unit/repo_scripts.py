"""Import a script of this repository (scripts/, bench/) by its path, for the tests that check it."""

import importlib.util
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def load(relpath):
    """The module at ``relpath`` (relative to the repository root), freshly imported."""
    path = REPO_ROOT / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
