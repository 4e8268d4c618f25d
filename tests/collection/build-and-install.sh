#!/usr/bin/env bash
# Build the collection tarball and install it into a scratch collections path, then
# prove the installed copy (not the working tree) answers ansible-doc.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/.venv/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

version=$(awk '/^version:/ {print $2}' "$root/galaxy.yml")
"$bin/ansible-galaxy" collection build "$root" --output-path "$work/dist" --force >/dev/null
tarball="$work/dist/opsgate-release-$version.tar.gz"
test -f "$tarball" || { echo "build produced no $tarball" >&2; exit 1; }
# Dependencies come bundled with the `ansible` package: Galaxy is not reachable.
# --force and a collections path of its own: the checkout itself is on the configured path.
ANSIBLE_COLLECTIONS_PATH="$work/collections" "$bin/ansible-galaxy" collection install "$tarball" -p "$work/collections" --no-deps --force >/dev/null 2>&1
installed="$work/collections/ansible_collections/opsgate/release"
test -f "$installed/MANIFEST.json" || { echo "install left no MANIFEST.json" >&2; exit 1; }
for excluded in .venv .collections .git; do
    if tar -tzf "$tarball" | grep -q "^$excluded/"; then echo "tarball contains $excluded/" >&2; exit 1; fi
done

cd "$work"
listed=$(env -u ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH="$work/collections" "$bin/ansible-doc" -l opsgate.release 2>/dev/null | awk '{print $1}' | sort)
expected=$(find "$root/plugins/modules" -maxdepth 1 -name '*.py' -printf '%f\n' | sed 's/\.py$//; s/^/opsgate.release./' | sort)
if [ "$listed" != "$expected" ]; then
    echo "installed collection lists modules:"; echo "$listed"; echo "expected:"; echo "$expected"; exit 1
fi
echo "collection opsgate.release $version: built $(du -h "$tarball" | cut -f1) tarball, installed, $(echo "$listed" | grep -c . || true) modules documented"
