#!/usr/bin/env bash
# Real approval tokens for the scenarios, signed with bin/opsgate-approval and throw-away keys.
#   approvals.sh init DIR                      4 approvers' keys + DIR/policy.yml (an inventory source)
#   approvals.sh token DIR OUT ACTION APP VERSION SHA256 ENV HOST[,HOST...] [CHANGE_ID]
# The policy goes into an inventory file, never -e: the gate refuses a policy from extra vars.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cli=("$root/.venv/bin/python" "$root/bin/opsgate-approval")
roles=(business_head it_head risk_compliance ops_director)

init() {
    local dir=$1
    mkdir -p "$dir/keys" "$dir/ledger"
    local entries=""
    for role in "${roles[@]}"; do
        "${cli[@]}" keygen --owner "approver-$role" --role "$role" --out "$dir/keys/$role.pem" --public-out "$dir/keys/$role.pub" --force >/dev/null 2>&1
        entries+=$(cat "$dir/keys/$role.pub"),
    done
    python3 - "$dir" "[${entries%,}]" <<'PY'
import json, sys
directory, approvers = sys.argv[1], json.loads(sys.argv[2])
policy = {
    "approvers": approvers,
    "classes": {"core_business": {"roles": {"business_head": 1, "it_head": 1, "risk_compliance": 1, "ops_director": 1}}},
    "min_lead_working_days": 3,
    "timezone": "UTC",
    "max_window_hours": 24,
    "ledger_dir": f"{directory}/ledger",
}
with open(f"{directory}/policy.yml", "w") as handle:
    json.dump({"all": {"vars": {"opsgate_approval_policy": policy}}}, handle, indent=1)
PY
}

token() {
    local dir=$1 out=$2 action=$3 app=$4 version=$5 sha=$6 env=$7 hosts=$8
    local change=${9:-CHG-$action-$version}
    local unsigned="$out.unsigned"
    "${cli[@]}" request --change-id "$change" --system sample --system-class core_business --action "$action" \
        --app "$app" --version "$version" --artifact-sha256 "$sha" --env "$env" --hosts "$hosts" \
        --plan-filed-at "$(date -u -d '-10 days' +%Y-%m-%dT%H:%M:%SZ)" \
        --not-before "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)" --not-after "$(date -u -d '+20 hours' +%Y-%m-%dT%H:%M:%SZ)" \
        --requested-by requester --test-report TR-1 --acceptance-report AR-1 --out "$unsigned" >/dev/null 2>&1
    local current=$unsigned
    for role in "${roles[@]}"; do
        "${cli[@]}" sign --key "$dir/keys/$role.pem" --in "$current" --out "$out.$role" >/dev/null 2>&1
        current="$out.$role"
    done
    mv "$current" "$out"
    rm -f "$out".* "$unsigned"
}

"$@"
