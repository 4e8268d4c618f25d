#!/usr/bin/env bash
# awx.awx left the `ansible` package after 12.x and Galaxy is not reachable here, so take
# the collection from the last `ansible` wheel on PyPI that bundles it and put it on the
# project's collections path (.collections), where ansible-lint and ansible-doc find it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest="$root/.collections/ansible_collections/awx/awx"
[ -f "$dest/MANIFEST.json" ] && exit 0
if "$root/.venv/bin/python" -c 'import ansible_collections.awx.awx' 2>/dev/null; then exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$root/.venv/bin/pip" download -q --no-deps --only-binary=:all: -d "$work" "ansible==12.3.0"
"$root/.venv/bin/python" - "$work"/ansible-12.3.0-*.whl "$work/x" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    wheel.extractall(sys.argv[2], [n for n in wheel.namelist() if n.startswith("ansible_collections/awx/awx/")])
PY
mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv "$work/x/ansible_collections/awx/awx" "$dest"
echo "awx.awx $(sed -n 's/.*"version": "\([^"]*\)".*/\1/p' "$dest/MANIFEST.json" | head -1) installed into .collections"
