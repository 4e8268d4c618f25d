#!/usr/bin/env bash
# Real approval tokens for the scenarios and the demo, signed with bin/opsgate-approval and throw-away keys.
#   approvals.sh init DIR [required]
#                             2 policy administrators, 4 approvers and a requester; a trust root signed by
#                             both administrators, pinned at DIR/trust/root.json (ledger DIR/ledger);
#                             the signed policy DIR/trust/policy.json; DIR/policy.yml, an inventory source
#                             that names the policy file. Runs need OPSGATE_TRUST_ROOT=DIR/trust/root.json.
#   approvals.sh token DIR OUT ACTION APP VERSION SHA256 ENV HOST[,HOST...] [CHANGE_ID] [RULE]
#                             RULE normal (default): the four core roles, plan filed 10 days ago;
#                             rollback-good: a rollback under the class's rollback rule (the operations
#                             director alone, plan filed two hours ago).
#   approvals.sh token-change DIR OUT CHANGE_FILE [RULE]
#                             the same, requested from a change document a playbook wrote
#                             (deploy_change_out=FILE ...): the token signs its sha256.
#   approvals.sh grant DIR OUT GRANT_ID NAME=ADDRESS [NAME=ADDRESS...]
#                             a host grant for DIR's trust root, signed by both administrators: the security
#                             team's approval to pin it on these hosts (playbooks/trust_bootstrap.yml).
#   With "required", the policy says change_document: required (docs/approvals.md, "The change document").
# This is a demo root: production pins /etc/opsgate/trust.json made by its own administrators (docs/approvals.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cli=("$root/.venv/bin/python" "$root/bin/opsgate-approval")
roles=(business_head it_head risk_compliance ops_director)

init() {
    local dir=$1 change_document=${2:-optional}
    mkdir -p "$dir/keys" "$dir/ledger" "$dir/trust"
    chmod 700 "$dir/keys" "$dir/ledger"
    chmod 755 "$dir" "$dir/trust"
    for admin in admin-one admin-two; do
        "${cli[@]}" keygen --owner "$admin" --role policy_admin --out "$dir/keys/$admin.pem" --public-out "$dir/keys/$admin.pub" --force >/dev/null 2>&1
    done
    "${cli[@]}" keygen --owner requester --role requester --out "$dir/keys/requester.pem" --public-out "$dir/keys/requester.pub" --force >/dev/null 2>&1
    for role in "${roles[@]}"; do
        "${cli[@]}" keygen --owner "approver-$role" --role "$role" --out "$dir/keys/$role.pem" --public-out "$dir/keys/$role.pub" --force >/dev/null 2>&1
    done
    "${cli[@]}" root-create --admin "$dir/keys/admin-one.pub" --admin "$dir/keys/admin-two.pub" --threshold 2 \
        --ledger-dir "$dir/ledger" --out "$dir/trust/root.unsigned.json" >/dev/null 2>&1
    "${cli[@]}" admin-sign --key "$dir/keys/admin-one.pem" --in "$dir/trust/root.unsigned.json" --out "$dir/trust/root.1.json" >/dev/null 2>&1
    "${cli[@]}" admin-sign --key "$dir/keys/admin-two.pem" --in "$dir/trust/root.1.json" --out "$dir/trust/root.2.json" >/dev/null 2>&1
    "${cli[@]}" root-install --in "$dir/trust/root.2.json" --trust-root "$dir/trust/root.json" >/dev/null 2>&1
    rm -f "$dir/trust/root.unsigned.json" "$dir/trust/root.1.json" "$dir/trust/root.2.json"
    python3 - "$dir" "$change_document" "${roles[@]}" <<'PY'
import json, sys
directory, change_document, roles = sys.argv[1], sys.argv[2], sys.argv[3:]
approvers = [json.load(open(f"{directory}/keys/{name}.pub")) for name in [*roles, "requester"]]
policy = {
    "approvers": approvers,
    "classes": {
        "core_business": {
            "roles": dict.fromkeys(roles, 1),
            # Back to a release the host ledgers record good: one role, no lead time (docs/approvals.md).
            "rollback": {"roles": {"ops_director": 1}, "min_lead_working_days": 0},
        }
    },
    # Which class a change of which hosts needs: every host of the scenarios and the demo is core_business
    # (docs/approvals.md, "Host classes"); the class is never taken from a variable.
    "host_classes": [{"hosts": ["*"], "class": "core_business"}],
    "min_lead_working_days": 3,
    # The scenarios file a plan 10 days back and sign it at once; a real policy keeps the default 24 h.
    "plan_filed_slack_hours": 24 * 14,
    "timezone": "UTC",
    "max_window_hours": 24,
    "change_document": change_document,
}
json.dump(policy, open(f"{directory}/trust/policy-body.json", "w"), indent=1)
# An inventory source that names the signed policy file; it proves nothing by itself.
json.dump({"all": {"vars": {"opsgate_approval_policy_file": f"{directory}/trust/policy.json"}}}, open(f"{directory}/policy.yml", "w"), indent=1)
PY
    "${cli[@]}" policy-create --in "$dir/trust/policy-body.json" --version 1 --expires "$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)" \
        --out "$dir/trust/policy.unsigned.json" >/dev/null 2>&1
    "${cli[@]}" admin-sign --key "$dir/keys/admin-one.pem" --in "$dir/trust/policy.unsigned.json" --out "$dir/trust/policy.1.json" >/dev/null 2>&1
    "${cli[@]}" admin-sign --key "$dir/keys/admin-two.pem" --in "$dir/trust/policy.1.json" --out "$dir/trust/policy.json" >/dev/null 2>&1
    rm -f "$dir/trust/policy.unsigned.json" "$dir/trust/policy.1.json" "$dir/trust/policy-body.json"
    echo "OPSGATE_TRUST_ROOT=$dir/trust/root.json" > "$dir/env"
    echo "$change_document" > "$dir/change_document"
}

token() {
    local dir=$1 out=$2 action=$3 app=$4 version=$5 sha=$6 env=$7 hosts=$8
    local change=${9:-CHG-$action-$version} rule=${10:-normal}
    sign_request "$dir" "$out" "$rule" --change-id "$change" --action "$action" \
        --app "$app" --version "$version" --artifact-sha256 "$sha" --env "$env" --hosts "$hosts"
}

token-change() {
    local dir=$1 out=$2 change_file=$3 rule=${4:-normal}
    sign_request "$dir" "$out" "$rule" --change "$change_file"
}

grant() {
    local dir=$1 out=$2 grant_id=$3
    shift 3
    local hosts=()
    for item in "$@"; do hosts+=(--host "$item"); done
    "${cli[@]}" grant-create --root "$dir/trust/root.json" --grant-id "$grant_id" "${hosts[@]}" --out "$out.unsigned" >/dev/null 2>&1
    "${cli[@]}" admin-sign --key "$dir/keys/admin-one.pem" --in "$out.unsigned" --out "$out.1" >/dev/null 2>&1
    "${cli[@]}" admin-sign --key "$dir/keys/admin-two.pem" --in "$out.1" --out "$out" >/dev/null 2>&1
    rm -f "$out.unsigned" "$out.1"
}

sign_request() {
    local dir=$1 out=$2 rule=$3
    shift 3
    local unsigned="$out.unsigned" filed="-10 days" signers=("${roles[@]}")
    if [ "$rule" = rollback-good ]; then
        filed="-2 hours" signers=(ops_director)
    fi
    "${cli[@]}" request --system sample --system-class core_business "$@" \
        --plan-filed-at "$(date -u -d "$filed" +%Y-%m-%dT%H:%M:%SZ)" \
        --not-before "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)" --not-after "$(date -u -d '+20 hours' +%Y-%m-%dT%H:%M:%SZ)" \
        --requested-by requester --key "$dir/keys/requester.pem" --test-report TR-1 --acceptance-report AR-1 --out "$unsigned" > "$out.summary" 2>/dev/null
    local current=$unsigned
    for role in "${signers[@]}"; do
        "${cli[@]}" sign --key "$dir/keys/$role.pem" --in "$current" --out "$out.$role" >/dev/null 2>&1
        current="$out.$role"
    done
    mv "$current" "$out"
    for role in "${signers[@]}"; do rm -f "$out.$role"; done
    rm -f "$unsigned"
}

"$@"
