#!/usr/bin/env bash
# Prepare this machine to run the molecule scenarios: Debian packages, kernel
# limits for many systemd containers, and the local Debian 12 test image.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF="$here/containers.conf"

mapfile -t wanted < <(grep -Ev '^\s*(#|$)' "$here/apt-packages.txt")
missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}"
    [ "$(id -u)" = 0 ] || { echo "make test-env must run as root to install packages" >&2; exit 1; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Each systemd container takes inotify instances; beyond ~33 containers the rest
# hang in "initializing" with the default of 128.
if [ "$(id -u)" = 0 ] && [ "$(sysctl -n fs.inotify.max_user_instances)" -lt 4096 ]; then
    sysctl -qw fs.inotify.max_user_instances=4096
fi

bash "$here/build-image.sh"
