#!/usr/bin/env bash
# ansible-test sanity, offline. ansible-test wants the collection at
# .../ansible_collections/opsgate/release and downloads a pip bootstrap script on
# first use from a host we cannot reach; we lay out a copy of the tracked files and
# provide that script ourselves (it installs pip from a wheel fetched from PyPI).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/.venv/bin"
python="$bin/python"
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

tree="$root/build/sanity/ansible_collections/opsgate/release"
rm -rf "$root/build/sanity"
mkdir -p "$tree"
# Tracked and new (not ignored) files: what a commit would hold.
(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c 'test -e "{}" && echo "{}"') > "$root/build/sanity.files"
(cd "$root" && tar -cf - -T "$root/build/sanity.files") | tar -xf - -C "$tree"
(cd "$tree" && git init -q && git add -A >/dev/null 2>&1)

pip_version=$("$python" - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
class _P:  # get_venv_packages only reads .version
    version = __import__("sys").argv[0] and "%d.%d" % __import__("sys").version_info[:2]
print(get_venv_packages(_P())["pip"])
PY
)
cache="$HOME/.ansible/test/cache"
bootstrap="$cache/get_pip_${pip_version//./_}.py"
if [ ! -f "$bootstrap" ]; then
    mkdir -p "$cache/wheels"
    "$bin/pip" download -q --no-deps --only-binary=:all: -d "$cache/wheels" "pip==$pip_version"
    cat > "$bootstrap" <<PY
# Stand-in for get-pip.py: run pip from its wheel to install itself and the rest.
import glob, sys
sys.path.insert(0, glob.glob("$cache/wheels/pip-$pip_version-*.whl")[0])
from pip._internal.cli.main import main
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--no-cache-dir", "$cache/wheels/pip-$pip_version-py3-none-any.whl"] + [a for a in args if not a.startswith("pip==")]))
PY
fi

cd "$tree"
# Tests skipped here and why: docs/development.md.
"$bin/ansible-test" sanity --local --python "$pyver" --color no \
    "$@"
