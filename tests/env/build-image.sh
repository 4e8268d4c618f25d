#!/usr/bin/env bash
# Build the Debian 12 image the molecule scenarios start as hosts, without a
# registry: debootstrap a root filesystem and `podman import` it. The tag carries a
# digest of this script, so a change here builds a new image and an unchanged one
# is reused (`podman image exists`).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
mirror="${OPSGATE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
digest=$(sha256sum "$0" | cut -c1-12)
image="localhost/opsgate-debian12:$digest"

if podman image exists "$image"; then
    echo "test image $image already built"
    podman tag "$image" localhost/opsgate-debian12:latest
    exit 0
fi

# What the hosts need: python3 for modules, systemd as init (units like production),
# sshd for SSH-connected benchmarks, haproxy + socat and nginx for the load balancer host,
# python3-apt for package_facts, curl for health checks by hand.
include=python3,python3-apt,systemd,systemd-sysv,dbus,openssh-server,iproute2,procps,curl,ca-certificates,sudo,haproxy,nginx,socat,less,iputils-ping

rootfs=$(mktemp -d /var/tmp/opsgate-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrap bookworm into $rootfs (about a minute)"
debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -20 "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

# Keep gcc's packages in the apt cache (not installed): the preflight scenario
# installs gcc offline on one host to prove the forbidden-software check.
echo "deb $mirror bookworm main" > "$rootfs/etc/apt/sources.list"
chroot "$rootfs" apt-get update -qq
# The release modules verify approvals on hosts with a pinned trust root (issue 12): they need
# cryptography. Installed after debootstrap, whose --include cannot configure it in minbase.
chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install -qq -y --no-install-recommends python3-cryptography >/dev/null
chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install -qq -y --download-only gcc make >/dev/null
# Keep PostgreSQL's packages in the cache too: the migrations scenario installs the server on its database
# host and the client on its app hosts, offline (issue 15).
chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install -qq -y --download-only postgresql postgresql-client >/dev/null
rm -f "$rootfs/etc/apt/apt.conf.d/docker-clean"

# A container has no consoles or udev; these units only fail or wait there.
for unit in getty@tty1.service serial-getty@ttyS0.service systemd-udevd.service \
            systemd-udev-trigger.service; do
    chroot "$rootfs" systemctl mask "$unit" >/dev/null 2>&1 || true
done
chroot "$rootfs" systemctl enable ssh >/dev/null 2>&1 || true
# haproxy and nginx run only on the load-balancer host; its scenario starts the one it tests.
chroot "$rootfs" systemctl disable haproxy nginx >/dev/null 2>&1 || true
# Distinct machine ids per container: systemd creates one at first boot when empty.
: > "$rootfs/etc/machine-id"
echo "opsgate-test" > "$rootfs/etc/hostname"
mkdir -p "$rootfs/root/.ssh" && chmod 700 "$rootfs/root/.ssh"

echo "importing into podman as $image"
tar -C "$rootfs" -c . | podman import --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL=SIGRTMIN+3' - "$image" >/dev/null
podman tag "$image" localhost/opsgate-debian12:latest
echo "test image $image ready"
