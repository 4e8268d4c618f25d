#!/usr/bin/env bash
# haproxy on this machine in front of the demo's four app slots (demo/inventory/app_slots.yml):
# frontend 127.0.0.1:18080, servers slot1..slot4 on 18081..18084, admin socket DIR/admin.sock
# for the gray release's drain and enable.
#   local_lb.sh start DIR | stop DIR
set -euo pipefail
action=$1 dir=$2
case "$action" in
start)
    if ! command -v haproxy >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || { echo "the demo needs haproxy: apt-get install haproxy" >&2; exit 1; }
        apt-get install -y -qq haproxy >/dev/null
    fi
    mkdir -p "$dir"
    cat > "$dir/haproxy.cfg" <<CFG
global
    stats socket $dir/admin.sock mode 600 level admin
    pidfile $dir/haproxy.pid
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    retries 3
    option redispatch
frontend demo
    bind 127.0.0.1:18080
    default_backend app
backend app
    balance roundrobin
    option httpchk GET /health
    default-server inter 500ms fall 2 rise 1
    server slot1 127.0.0.1:18081 check
    server slot2 127.0.0.1:18082 check
    server slot3 127.0.0.1:18083 check
    server slot4 127.0.0.1:18084 check
CFG
    haproxy -D -f "$dir/haproxy.cfg"
    ;;
stop)
    if [ -f "$dir/haproxy.pid" ]; then kill "$(cat "$dir/haproxy.pid")" 2>/dev/null || true; fi
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
