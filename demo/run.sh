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
export OPSGATE_DEMO_DIR="$out"
start=$(date +%s)
step() { printf '\n[demo %3ds] %s\n' "$(( $(date +%s) - start ))" "$*"; }
approvals="$root/molecule/deploy/approvals.sh"
# The demo trust root (step 3 says what it is) comes first: it names the state store (SQLite in
# out/demo/approvals/ledger) where the archive callback records every run, the first two included.
bash "$approvals" init "$out/approvals" required
# A DEMO root, pinned under out/demo: production pins /etc/opsgate/trust.json, made by its own administrators.
export OPSGATE_TRUST_ROOT="$out/approvals/trust/root.json"

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

# The rest of the flow: throw-away approvers, signed tokens, app slots on this machine.
playbook() {  # playbook NAME LOG TOKEN [ansible-playbook args...]
    local name=$1 log=$2 token=$3
    shift 3
    OPSGATE_TRUST_ROOT="$out/approvals/trust/root.json" \
    "$bin/ansible-playbook" -i demo/inventory/app_slots.yml -i "$out/approvals/policy.yml" "playbooks/$name.yml" \
        -e "opsgate_approval_token=@$token" -e opsgate_target_hosts=app_slots "$@" > "$out/$log.log" 2>&1
}
verified_on_hosts() {  # what each slot's own check accepted (written only by a host-side verification)
    local line="  verified on the hosts themselves:"
    for slot in slot1 slot2 slot3 slot4; do
        line+=" $slot=$("$bin/python" -c 'import json,sys; print("policy v%s" % json.load(open(sys.argv[1]))["policy_version"])' \
            "$out/hosts/$slot/opsgate/host-trust.json" 2>/dev/null || echo none)"
    done
    echo "$line"
}
serving() {
    local line="  serving:"
    for port in 18081 18082 18083 18084; do
        line+=" :$port=$(curl -fsS "http://127.0.0.1:$port/health" 2>/dev/null | "$bin/python" -c 'import json,sys; print(json.load(sys.stdin)["version"])' 2>/dev/null || echo down)"
    done
    echo "$line"
}
sign() {  # sign FILE PLAYBOOK [ansible-playbook args...]: the playbook writes the change, the token signs its sha256
    local file=$1 name=$2
    shift 2
    OPSGATE_TRUST_ROOT="$out/approvals/trust/root.json" \
    "$bin/ansible-playbook" -i demo/inventory/app_slots.yml -i "$out/approvals/policy.yml" "playbooks/$name.yml" \
        -e opsgate_target_hosts=app_slots -e "${name}_change_out=$out/tokens/$file.change.json" "$@" > "$out/$file.plan.log" 2>&1 \
        || { tail -30 "$out/$file.plan.log"; exit 1; }
    bash "$approvals" token-change "$out/approvals" "$out/tokens/$file" "$out/tokens/$file.change.json"
    echo "  the change the approvers sign ($file.change.json; opsgate-approval request --change prints it):"
    { grep -E '^(change |change document|hosts |hook |rollout plan|database migrations on|database restore on|migration |verify suite|document |what differs|  slot[1-4]: )' "$out/tokens/$file.summary"; grep -m1 '^config ' "$out/tokens/$file.summary" || true; } \
        | cut -c1-150 | sed 's/^/    /'
    echo "  token $file ($("$bin/python" bin/opsgate-approval inspect --in "$out/tokens/$file" | "$bin/python" -c 'import json,sys; print(json.load(sys.stdin)["claims"]["token_id"])'))" \
         "signed by business_head, it_head, risk_compliance, ops_director"
}

lb_dir="$out/lb"
lb_start() { bash demo/local_lb.sh start "$lb_dir"; }
load_start() {  # requests through haproxy for the whole rollout; counts answers that are not 2xx
    ( ok=0; bad=0; end=$(( $(date +%s) + 300 ))
      while [ ! -f "$lb_dir/stop" ] && [ "$(date +%s)" -lt "$end" ]; do
          code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:18080/ || true)
          case "$code" in 2*) ok=$((ok + 1)) ;; *) bad=$((bad + 1)) ;; esac
          sleep 0.05
      done
      echo "$ok $bad" > "$lb_dir/load" ) &
}
load_stop() {
    touch "$lb_dir/stop"; wait; rm -f "$lb_dir/stop"
    read -r ok bad < "$lb_dir/load"
    echo "  through haproxy during the rollout: $ok requests answered 2xx, $bad not"
}

step "3. A demo trust root, the policy its two administrators signed, throw-away keys for the requester and four approvers"
"$bin/python" bin/opsgate-approval policy-verify 2>&1 >/dev/null | sed 's/^/  /'
echo "  trust root: $OPSGATE_TRUST_ROOT (demo; threshold 2 of 2 policy administrators)"
echo "  policy:     $out/approvals/trust/policy.json (signed; core_business needs all four roles; the requester signs too;"
echo "              change_document: required - every token signs the whole change a playbook writes)"

step "4. The security team pins the root on each app slot, under a host grant both administrators signed"
# Each slot stands in for a host of its own: its pinned root, identity and grant live in
# out/demo/hosts/slotN/opsgate instead of /etc/opsgate (OPSGATE_HOST_TRUST_DIR, read only where
# /etc/opsgate/trust.json does not exist), set by a wrapper the inventory uses as the slot's Python.
for slot in slot1 slot2 slot3 slot4 dbhost; do
    mkdir -p "$out/hosts/$slot"
    printf '#!/bin/sh\nOPSGATE_HOST_TRUST_DIR=%s exec %s "$@"\n' "$out/hosts/$slot/opsgate" "$bin/python" > "$out/hosts/$slot/python"
    chmod 755 "$out/hosts/$slot/python"
done
bash "$approvals" grant "$out/approvals" "$out/approvals/grant.json" SEC-DEMO-1 slot1=slot1 slot2=slot2 slot3=slot3 slot4=slot4 dbhost=dbhost
"$bin/python" bin/opsgate-approval grant-verify --root "$out/approvals/trust/root.json" --in "$out/approvals/grant.json" 2>&1 | head -1 | sed 's/^/  /'
"$bin/ansible-playbook" -i demo/inventory/app_slots.yml playbooks/trust_bootstrap.yml -e opsgate_target_hosts=app_slots:databases \
    -e "opsgate_trust_root_file=$out/approvals/trust/root.json" -e "opsgate_trust_grant_file=$out/approvals/grant.json" \
    -e opsgate_trust_bootstrap_become=false > "$out/trust_bootstrap.log" 2>&1 || { tail -30 "$out/trust_bootstrap.log"; exit 1; }
echo "  pinned: out/demo/hosts/{slot1..4,dbhost}/opsgate/{trust,host,host-grant}.json; from now on each verifies every release step itself"

step "4b. A private PostgreSQL cluster on :18432 (out/demo/pg) with the orders table the app reads; 2.0.0 migrates it"
bash demo/local_pg.sh start "$out/pg"
orders() {  # the orders table's columns, row count and the migration steps applied
    "$bin/python" - "$out/pg" <<'PY'
import subprocess
import sys

def query(sql):
    argv = ["psql", "-XAt", "-h", sys.argv[1], "-p", "18432", "-U", "postgres", "-d", "appdb", "-c", sql]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()

columns = query("select string_agg(column_name, ', ' order by ordinal_position) from information_schema.columns where table_name = 'orders'")
steps = "none"
if query("select to_regclass('public.opsgate_migrations')"):
    steps = query("select coalesce(string_agg(step_id, ', ' order by step_id), 'none') from opsgate_migrations")
print(f"  orders: columns {columns}; {query('select count(*) from orders')} rows; migrations applied: {steps}")
PY
}
# The manifest names each migration file, the verification suite and the deployment manual by sha256.
"$bin/python" - "$out/migrations.json" demo/migrations/*.sql demo/migrations/*.py docs/deploy.md <<'PY'
import hashlib, json, os, sys
json.dump({os.path.basename(path): hashlib.sha256(open(path, "rb").read()).hexdigest() for path in sys.argv[2:]}, open(sys.argv[1], "w"))
PY
orders

step "5. Build sample_app 1.0.0, 2.0.0 and a broken 3.0.0 (its /health answers 503)"
mkdir -p "$out/artifacts" "$out/tokens"
declare -A sha
for version in 1.0.0 2.0.0 3.0.0; do
    extra=(); [ "$version" = 3.0.0 ] && extra=(--broken)
    read -r sha[$version] built < <("$bin/python" demo/sample_app/build.py "${extra[@]}" "$version" "$out/artifacts")
    [ "$built" = "$out/artifacts/sample_app-$version.tar.gz" ] || mv "$built" "$out/artifacts/sample_app-$version.tar.gz"
    echo "  sample_app-$version.tar.gz sha256 ${sha[$version]:0:16}..."
done

step "6. Deploy 1.0.0 to four app slots behind haproxy on :18080 (token: action deploy)"
lb_start
sign deploy-1.0.0.token deploy -e app_version=1.0.0 -e "app_sha256=${sha[1.0.0]}" -e demo_change_id=CHG-DEMO-1
playbook deploy deploy-1.0.0 "$out/tokens/deploy-1.0.0.token" -e app_version=1.0.0 -e "app_sha256=${sha[1.0.0]}" -e demo_change_id=CHG-DEMO-1 \
    || { tail -30 "$out/deploy-1.0.0.log"; exit 1; }
serving
verified_on_hosts

step "7. Gray release 2.0.0 through haproxy: expand migration, canary, pause, 50%, 100%, each slot's testinfra suite, contract migration"
sign gray-2.0.0.token gray_release -e app_version=2.0.0 -e "app_sha256=${sha[2.0.0]}" -e demo_change_id=CHG-DEMO-2
load_start
playbook gray_release gray-2.0.0 "$out/tokens/gray-2.0.0.token" -e app_version=2.0.0 -e "app_sha256=${sha[2.0.0]}" -e demo_change_id=CHG-DEMO-2 \
    || { load_stop; tail -30 "$out/gray-2.0.0.log"; exit 1; }
load_stop
serving
orders
sha256sum "$out"/db-backups/*.dump 2>/dev/null | head -1 | { read -r digest path; echo "  backup taken before the migrations: $path, sha256 ${digest:0:16}..."; } || true

step "8. Gray release of the broken 3.0.0: the canary fails its health gate and is rolled back"
sign gray-3.0.0.token gray_release -e app_version=3.0.0 -e "app_sha256=${sha[3.0.0]}" -e demo_change_id=CHG-DEMO-3
load_start
if playbook gray_release gray-3.0.0 "$out/tokens/gray-3.0.0.token" -e app_version=3.0.0 -e "app_sha256=${sha[3.0.0]}" -e demo_change_id=CHG-DEMO-3; then
    load_stop; echo "the broken release was not stopped" >&2; exit 1
fi
load_stop
grep -oE 'gray release [^"]*(failed|stopped)[^"]*' "$out/gray-3.0.0.log" | head -1 | cut -c1-240 | sed 's/^/  /' || true
serving

step "9. Roll back to 1.0.0, and the database to before 2.0.0's migrations (token: action rollback)"
rollback_args=(-e rollback_version=1.0.0 -e "rollback_artifact_sha256=${sha[1.0.0]}" -e rollback_change_id=CHG-DEMO-RB
               -e app_version=2.0.0 -e "app_sha256=${sha[2.0.0]}" -e demo_change_id=CHG-DEMO-RB)
sign rollback-1.0.0.token rollback "${rollback_args[@]}"
playbook rollback rollback-1.0.0 "$out/tokens/rollback-1.0.0.token" "${rollback_args[@]}" \
    || { tail -30 "$out/rollback-1.0.0.log"; exit 1; }
serving
orders
grep -oE 'database on dbhost: [^;"]*' "$out/rollback-1.0.0.log" | head -1 | cut -c1-200 | sed 's/^/  /' || true

step "10. Stop the demo's app slots, haproxy and PostgreSQL"
bash demo/local_lb.sh stop "$lb_dir"
bash demo/local_pg.sh stop "$out/pg"
for slot in 1 2 3 4; do
    pidfile="$out/slots/slot$slot/run/sample_app.pid"
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
done

step "11. The operations archive: every run above, hash-chained in the state store; verify it"
"$bin/python" bin/opsgate-archive report --change CHG-DEMO-RB --format html -o "$out/reports/archive-CHG-DEMO-RB.html" >/dev/null 2>&1 || true
"$bin/python" bin/opsgate-archive report --change CHG-DEMO-2 -o "$out/reports/archive-CHG-DEMO-2.md" >/dev/null 2>&1
"$bin/python" bin/opsgate-archive report --change CHG-DEMO-2 --format html -o "$out/reports/archive-CHG-DEMO-2.html" >/dev/null 2>&1
echo "  the report of 2.0.0 (CHG-DEMO-2): verification per slot, the database backup's digest, the documents:"
grep -E '^\| slot[1-4] \|.*passed|^\| (expand|contract) \||deployment_manual' "$out/reports/archive-CHG-DEMO-2.md" | head -8 | cut -c1-170 | sed 's/^/    /' || true
"$bin/python" bin/opsgate-archive verify > "$out/archive-verify.log" 2>&1 || { cat "$out/archive-verify.log"; echo "the archive does not verify" >&2; exit 1; }
sed 's/^/  /' "$out/archive-verify.log"
step "done in $(( $(date +%s) - start )) s"
echo "  readiness report: $out/reports/readiness.html (also .md, .json, junit.xml)"
echo "  archive:          $("$bin/python" bin/opsgate-archive list 2>&1 >/dev/null) (state store $out/approvals/ledger/state.sqlite3); list them: OPSGATE_TRUST_ROOT=$OPSGATE_TRUST_ROOT bin/opsgate-archive list"
echo "  archive reports:  $out/reports/archive-CHG-DEMO-RB.html, $out/reports/archive-CHG-DEMO-2.html"
echo "  host records:     $out/reports/inventory/"
