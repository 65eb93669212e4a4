#!/usr/bin/env bash
# ansible-test sanity on the collection, as the field runs it: every test that
# applies, on every target Python (3.8 to 3.13) this machine has.
#
# ansible-test needs the collection under .../ansible_collections/<ns>/<name>,
# so the tracked files (plus new, not yet committed ones) are copied to a
# scratch tree of that shape; the links collections/ansible_collections and
# playbooks/collections (how the checkout finds itself) stay behind.
# Each sanity test's own pinned tools are installed by ansible-test into
# virtual environments under the scratch tree (--venv --requirements).
set -euo pipefail
cd "$(dirname "$0")/.."

namespace=$(awk '$1 == "namespace:" {print $2}' galaxy.yml)
name=$(awk '$1 == "name:" {print $2}' galaxy.yml)
# Outside the checkout: ansible-test would otherwise list files with the
# checkout's git, which ignores the scratch tree.
work=${SANITY_WORKDIR:-${TMPDIR:-/tmp}/harden-tcp-sanity}
tree="$work/ansible_collections/$namespace/$name"

rm -rf "$tree"
mkdir -p "$tree"
git ls-files -z --cached --others --exclude-standard \
  | grep -zv -e '^collections/ansible_collections' -e '^playbooks/collections' \
  | while IFS= read -r -d '' path; do [ -e "$path" ] || [ -L "$path" ] && printf '%s\0' "$path"; done \
  | xargs -0 cp --parents --no-dereference -t "$tree"

# ansible-test downloads get-pip.py from a host these machines cannot reach;
# give it scripts/get_pip_shim.py under the name it caches that download as.
pip_version=$("$(dirname "$(command -v ansible-test)")/python" -c 'import re, sys, ansible_test; from pathlib import Path
text = (Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
print(re.search(r"pip=.([0-9.]+).", text).group(1))')
get_pip_cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$get_pip_cache")"
cp scripts/get_pip_shim.py "$get_pip_cache"

# Target Pythons: pyenv's where the machine has them (its shims do not
# count: they answer only for the selected version), else those on PATH.
pythons=()
for version in 3.8 3.9 3.10 3.11 3.12 3.13; do
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version" \
                   "$(command -v "python$version" || true)"; do
    if [ -x "$candidate" ] && [[ "$candidate" != */shims/* ]]; then
      PATH="$(dirname "$candidate"):$PATH"
      pythons+=("$version")
      break
    fi
  done
done
export PATH
echo "sanity: target Pythons found: ${pythons[*]}"

cd "$tree"
ansible-test sanity --venv --requirements --color no "$@"
