# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared unit-test plumbing.

Tests import the collection's code by its namespace,
``ansible_collections.harden_tcp.tcp.plugins...``: pytest.ini puts
``collections/`` on sys.path, where ``ansible_collections/harden_tcp/tcp`` is a
link to this checkout, which is how Ansible itself finds it.

The ``run_module`` fixture runs a module's ``main()`` with arguments fed by
``ansible.module_utils.testing.patch_module_args`` and returns what it passed
to exit_json or fail_json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Tuple

import pytest

FIXTURES_DIR = Path(__file__).resolve().parent / 'fixtures'


class ModuleExit(Exception):
    """Raised instead of AnsibleModule.exit_json; carries its keyword arguments."""

    def __init__(self, kind: str, result: Dict[str, Any]) -> None:
        super().__init__(kind, result)
        self.kind = kind
        self.result = result


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
