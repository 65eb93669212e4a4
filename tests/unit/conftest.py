# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared unit-test plumbing.

Generic, for every module of the project:

* :func:`register_module_utils` makes each file (and package) in module_utils/
  importable both as ``module_utils.<name>`` and as ``ansible.module_utils.<name>``
  (the same module object), the way Ansible resolves them on a managed host.
  It runs at import time, so test files can import either name.
* :func:`load_library_module` imports an entry point from library/ by name;
  the ``library_module`` fixture hands it to tests (test files should not
  ``import conftest``: several conftest.py files share that name).
* The ``run_module`` fixture runs a module's ``main()`` with arguments fed by
  ``ansible.module_utils.testing.patch_module_args`` and returns what it passed
  to exit_json or fail_json.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, Tuple

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE_UTILS_DIR = REPO_ROOT / 'module_utils'
LIBRARY_DIR = REPO_ROOT / 'library'
FIXTURES_DIR = Path(__file__).resolve().parent / 'fixtures'


def register_module_utils(directory: Path = MODULE_UTILS_DIR) -> Dict[str, ModuleType]:
    """Import module_utils/* and alias each one under ansible.module_utils.

    Returns {name: module}. Files and packages (directories with __init__.py)
    are registered; private files (leading underscore) too, since modules may
    import them.
    """
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import ansible.module_utils as ansible_module_utils

    names = [path.stem for path in directory.glob('*.py') if path.stem != '__init__']
    names += [path.name for path in directory.iterdir() if (path / '__init__.py').is_file()]
    registered = {}
    pending = sorted(names)
    while pending:
        # A module_utils file may import a sibling (tcp_snapshot imports
        # tcp_sysctl) that is not aliased yet: put it back and retry it after
        # the others, as long as each round registers something.
        waiting = []
        for name in pending:
            try:
                module = importlib.import_module('module_utils.' + name)
            except ModuleNotFoundError as exc:
                sibling = (exc.name or '').rpartition('.')[2]
                if exc.name != 'ansible.module_utils.' + sibling or sibling not in names:
                    raise
                waiting.append(name)
                continue
            sys.modules['ansible.module_utils.' + name] = module
            setattr(ansible_module_utils, name, module)
            registered[name] = module
        if waiting == pending:
            raise ImportError('module_utils files import each other in a cycle: %s' % ', '.join(waiting))
        pending = waiting
    return registered


def load_library_module(name: str) -> ModuleType:
    """Import library/<name>.py (not a package) under the name ``library_<name>``."""
    qualified = 'library_' + name
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, str(LIBRARY_DIR / (name + '.py')))
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    spec.loader.exec_module(module)
    return module


register_module_utils()


class ModuleExit(Exception):
    """Raised instead of AnsibleModule.exit_json; carries its keyword arguments."""

    def __init__(self, kind: str, result: Dict[str, Any]) -> None:
        super().__init__(kind, result)
        self.kind = kind
        self.result = result


@pytest.fixture
def library_module() -> Callable[[str], ModuleType]:
    """Return load_library_module, e.g. library_module('tcp_timewait_info')."""
    return load_library_module


@pytest.fixture
def run_module(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Tuple[str, Dict[str, Any]]]:
    """Return run(main, args) -> ("exit" | "fail", result dict)."""
    from ansible.module_utils import basic
    from ansible.module_utils.testing import patch_module_args

    def exit_json(self: Any, **kwargs: Any) -> None:
        raise ModuleExit('exit', kwargs)

    def fail_json(self: Any, msg: str, **kwargs: Any) -> None:
        raise ModuleExit('fail', dict(kwargs, msg=msg))

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)

    def run(main: Callable[[], None], args: Dict[str, Any]) -> Tuple[str, Dict[str, Any]]:
        with patch_module_args(args):
            try:
                main()
            except ModuleExit as done:
                return done.kind, done.result
        raise AssertionError('the module returned without exit_json or fail_json')

    return run
