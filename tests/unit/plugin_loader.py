"""Import a role's filter plugin by path, for the unit tests.

Role-embedded plugins (roles/<role>/filter_plugins/*.py) are not on any import
path; Ansible loads them by file, and so do these tests.
"""

import importlib.util
import os

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def load_plugin(relpath):
    """Return the module at relpath (relative to the repository root), freshly imported."""
    name = 'plugin_under_test_' + relpath.replace('/', '_').replace('.py', '')
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
