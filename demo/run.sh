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
sed -n '/Show the summary line/,/^$/p' "$out/host_inventory.log" | sed -n 's/^ *msg: //p; s/^        //p' | tr -d "'" 

step "2. Preflight of this machine against inventories/local's readiness spec"
"$bin/ansible-playbook" -i inventories/local/hosts.yml playbooks/preflight.yml \
    -e "opsgate_report_dir=$out/reports" > "$out/preflight.log" 2>&1 \
    || { cat "$out/preflight.log"; echo "preflight failed: see $out/reports/readiness.md"; exit 1; }
sed -n '/Print the readiness summary/,/^$/p' "$out/preflight.log" | sed -n 's/^    - //p' | tr -d "'" 

step "done"
echo "  readiness report: $out/reports/readiness.html (also .md, .json, junit.xml)"
echo "  host records:     $out/reports/inventory/"
