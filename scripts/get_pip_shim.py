"""Stand-in for pypa's get-pip.py, for ansible-test on machines that reach PyPI only.

ansible-test bootstraps pip into each virtual environment it creates with a
get-pip.py it downloads from ci-files.testing.ansible.com, which these
machines cannot reach; scripts/sanity.sh puts this file where ansible-test
caches that download. It takes the same arguments (pip options, then the
packages, e.g. pip==24.2): pip comes first from the interpreter's own
ensurepip, then installs what was asked from PyPI.
"""

import subprocess
import sys

# get-pip.py's own flags, which pip install does not know.
GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')

# In a child process: ensurepip points PIP_CONFIG_FILE at /dev/null in the
# environment of the process that runs it, and the install below needs the
# machine's pip configuration (its index and certificates).
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'])
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install']
                         + [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]))
