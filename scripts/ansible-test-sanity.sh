#!/usr/bin/env bash
# Run `ansible-test sanity` on the chaosrun.chaos collection on this machine (no Docker).
# ansible-test builds one virtual environment per sanity test and bootstraps pip in each
# with get-pip.py from a download site these machines cannot reach; we give it a local
# stand-in instead (the cache path ansible-test documents for a manual download), which
# installs pip with the pip of the project's venv. The tests' own requirements then come
# through pip as usual. Extra arguments go to ansible-test (e.g. --test validate-modules).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv_python=$root/.venv/bin/python
site=$("$venv_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# The pip version ansible-test pins for its virtual environments.
pip_version=$("$venv_python" -c 'from ansible_test._internal.python_requirements import get_venv_packages as p
from ansible_test._internal.host_configs import NativePythonConfig as c
print(p(c(version="3.11"))["pip"])' 2>/dev/null) || pip_version=24.2
shim="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$shim")"
cat > "$shim" <<PY
"""Local stand-in for get-pip.py, written by chaosrun's scripts/ansible-test-sanity.sh:
install the requested pip into this interpreter with the pip of chaosrun's venv."""
import runpy
import sys

sys.path.insert(0, "$site")
# get-pip.py's own options, which pip install does not know.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.argv = ["pip", "install", *args]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
PY
cd collections/ansible_collections/chaosrun/chaos
exec "$root/.venv/bin/ansible-test" sanity --python 3.11 --color no "$@"
