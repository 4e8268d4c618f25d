#!/usr/bin/env bash
# Kill HOST (podman kill) as soon as haproxy on LB shows it drained (MAINT): mid-batch, before its deploy.
#   kill_when_drained.sh LB HOST MAX_SECONDS OUT_FILE
set -uo pipefail
lb=$1 host=$2 max=$3 out=$4
deadline=$((SECONDS + max))
while ((SECONDS < deadline)); do
    status=$(podman exec "$lb" sh -c 'echo "show stat" | socat stdio /run/haproxy/admin.sock' 2>/dev/null | awk -F, -v h="$host" '$1 == "app" && $2 == h {print $18}')
    if [[ $status == MAINT ]]; then
        podman kill "$host" >/dev/null && echo "killed $host while $status" > "$out"
        exit 0
    fi
    sleep 0.2
done
echo "never saw $host drained" > "$out"
exit 1
