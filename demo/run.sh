#!/usr/bin/env bash
# `make demo`: the main job on the embedded default inventory (this machine only).
# Everything it writes goes under out/demo/ (ignored by git).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export ANSIBLE_CONFIG="$root/ansible.cfg"
bin="$root/.venv/bin"
out="$root/out/demo"
rm -rf "$out"
mkdir -p "$out/reports"
start=$(date +%s)
step() { printf '\n[demo %3ds] %s\n' "$(( $(date +%s) - start ))" "$*"; }

step "1. Host record of this machine (host_facts: model, CPUs, memory, NICs, HBAs, disks)"
"$bin/ansible-playbook" -i inventories/local/hosts.yml playbooks/host_inventory.yml \
    -e "opsgate_report_dir=$out/reports" > "$out/host_inventory.log" 2>&1 \
    || { cat "$out/host_inventory.log"; exit 1; }
grep -o '"msg": ".*"' "$out/host_inventory.log" | sed 's/^"msg": "//; s/"$//' || \
    sed -n '/Show the summary line/,/PLAY RECAP/p' "$out/host_inventory.log" | grep -v '^\(TASK\|PLAY\)'

step "done: host record in $out/reports/inventory/"
