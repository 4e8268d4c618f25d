# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 11, one test per way around: keys, spellings, encodings, sizes, roots and resumes."""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from approval_kit import NOW, ApprovalKit, Approver, consume
from ledger_kit import ledger, ledger_settings

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.canonical import approval_signature_payload, canonical_json, document_payload
from ansible_collections.opsgate.release.plugins.module_utils.approval.envelope import TOKEN_PREFIX, decode_token, token_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.file_safety import check_file
from ansible_collections.opsgate.release.plugins.module_utils.approval.keys import load_public_key
from ansible_collections.opsgate.release.plugins.module_utils.approval.ledger_records import RunOwner
from ansible_collections.opsgate.release.plugins.module_utils.approval.policy import parse_policy
from ansible_collections.opsgate.release.plugins.module_utils.approval.signed_document import parse_document
from ansible_collections.opsgate.release.plugins.module_utils.approval.task_inputs import read_policy_file
from ansible_collections.opsgate.release.plugins.module_utils.approval.trust_root import load_trust_root, parse_root, verify_rotation
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import verify_token
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.ledger_import import import_jsonl_ledger
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.token_ledger import TokenLedger, pinned_ledger, process_start_time

__all__ = ["ledger", "ledger_settings"]  # the fixtures
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
# Encodings of points of order 1, 2, 4 and 8 (the torsion subgroup) and non-canonical ones.
SMALL_ORDER = {
    "identity": (1).to_bytes(32, "little"),
    "all_zeros": bytes(32),
    "order_2": (P - 1).to_bytes(32, "little"),
    "order_8": bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    "order_8_other": bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
}
NON_CANONICAL = {"y_is_p_plus_1": (P + 1).to_bytes(32, "little"), "y_all_ones": b"\xff" * 32, "negative_zero_x": (1 | 1 << 255).to_bytes(32, "little")}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _envelope_token(raw: bytes) -> str:
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _body(token: str) -> bytes:
    text = token[len(TOKEN_PREFIX) :]
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _refused(code: str, call: object, *args: object, **kwargs: object) -> errors.ApprovalError:
    with pytest.raises(errors.ApprovalError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.code == code, caught.value.message
    return caught.value


# --- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SMALL_ORDER))
def test_small_order_public_keys_are_refused_in_the_policy(name: str) -> None:
    kit = ApprovalKit()
    raw = kit.policy_raw()
    raw["approvers"][3]["public_key"] = _b64(SMALL_ORDER[name])
    error = _refused(errors.POLICY_INVALID, parse_policy, raw, "/l")
    assert "approvers[3].public_key" in error.message
    assert "small-order point" in error.message or "non-canonical" in error.message


@pytest.mark.parametrize("name", sorted(NON_CANONICAL))
def test_non_canonical_public_keys_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"non-canonical|not a point"):
        load_public_key(_b64(NON_CANONICAL[name]))


def test_the_forgery_a_small_order_key_allows_is_why_it_is_refused() -> None:
    # cryptography (OpenSSL) loads the identity point and accepts R = identity, S = 0 for any message.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    forged = SMALL_ORDER["identity"] + bytes(32)
    Ed25519PublicKey.from_public_bytes(SMALL_ORDER["identity"]).verify(forged, b"any claims at all")
    with pytest.raises(ValueError, match="small-order"):
        load_public_key(_b64(SMALL_ORDER["identity"]))


def test_small_order_admin_key_is_refused_in_the_trust_root() -> None:
    kit = ApprovalKit()
    signed = kit.root_signed()
    signed["admins"][0]["public_key"] = _b64(SMALL_ORDER["order_8"])
    document = parse_document(kit.sign_document("root", signed, tuple(kit.admins.values())), "root", errors.TRUST_ROOT_INVALID)
    error = _refused(errors.TRUST_ROOT_INVALID, parse_root, document, "root.json")
    assert "small-order" in error.message


def test_a_signature_with_s_not_below_l_is_refused() -> None:
    kit = ApprovalKit()
    envelope = json.loads(_body(kit.token()))
    entry = envelope["signatures"][0]
    sig = base64.urlsafe_b64decode(entry["sig"] + "==")
    big_s = sig[:32] + (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
    entry["sig"] = base64.urlsafe_b64encode(big_s).rstrip(b"=").decode()
    error = _refused(errors.SIGNATURE_MALFORMED, decode_token, _envelope_token(canonical_json(envelope)))
    assert "not canonical (S >= L)" in error.message


# --- identity ---------------------------------------------------------------------------------

SPELLINGS = {
    "cyrillic_letter": ("\u0441arol", "mixes scripts (CYRILLIC, LATIN)"),
    "zero_width_space": ("car\u200bol", "U+200B ZERO WIDTH SPACE"),
    "unicode_hyphen": ("carol\u2010x", "U+2010 HYPHEN"),
    "fullwidth": ("\uff43\uff41\uff52\uff4f\uff4c", "not in NFKC form"),
    "decomposed": ("care\u0301", "not in NFKC form"),
    "escape_sequence": ("carol\x1b[0m", "U+001B"),
}


@pytest.mark.parametrize("name", sorted(SPELLINGS))
def test_requested_by_cannot_be_spelled_around(name: str) -> None:
    value, fragment = SPELLINGS[name]
    kit = ApprovalKit()
    error = _refused(errors.CLAIMS_INVALID, verify_token, kit.token(requested_by=value), kit.policy(), NOW, kit.scope())
    assert "claims.requested_by" in error.message
    assert fragment in error.message
    assert "\x1b" not in error.message


def test_requested_by_in_another_case_is_the_same_person() -> None:
    kit = ApprovalKit()
    kit.approvers["carol-requests"] = Approver("carol", "requester")
    token = kit.token(requested_by="CAROL", requester="carol-requests")
    error = _refused(errors.REQUESTER_SIGNED, verify_token, token, kit.policy(), NOW, kit.scope())
    assert "the requester CAROL signed as risk_compliance" in error.message


def test_two_spellings_of_one_owner_are_one_person() -> None:
    kit = ApprovalKit()
    kit.approvers["dual1"] = Approver("dual.person", "it_head")
    kit.approvers["dual2"] = Approver("Dual.Person", "risk_compliance")
    error = _refused(errors.POLICY_INVALID, kit.policy)
    assert "owners 'dual.person' and 'Dual.Person' are one person" in error.message


def test_owner_with_a_hidden_character_is_refused_in_the_policy() -> None:
    kit = ApprovalKit()
    kit.approvers["x"] = Approver("bo\u200bb", "risk_compliance")
    error = _refused(errors.POLICY_INVALID, kit.policy)
    assert "U+200B ZERO WIDTH SPACE" in error.message


# --- parsing ----------------------------------------------------------------------------------


def _claims_token(kit: ApprovalKit, text: str) -> str:
    """A token whose envelope is the kit's, with the claims object replaced by ``text`` verbatim."""
    envelope = canonical_json(json.loads(_body(kit.token())))
    start = envelope.index(b'"signed":') + len(b'"signed":')
    return _envelope_token(envelope[:start] + text.encode("utf-8", "surrogatepass") + b"}")


PARSER_CASES = {
    "non_utf8": (lambda k: _envelope_token(b'{"signatures":[],"signed":{"a":"\xff\xfe"}}'), errors.TOKEN_MALFORMED, "not UTF-8"),
    "huge_integer": (lambda k: _claims_token(k, '{"a":' + "9" * 5000 + "}"), errors.TOKEN_MALFORMED, "5000 digits is out of range"),
    "deep_nesting": (lambda k: _claims_token(k, "[" * 100_000 + "]" * 100_000), errors.TOKEN_MALFORMED, "nesting deeper than 32"),
    "lone_surrogate": (lambda k: _claims_token(k, '{"a":"\\ud800"}'), errors.TOKEN_MALFORMED, "lone surrogate"),
    "nan": (lambda k: _claims_token(k, '{"a":NaN}'), errors.TOKEN_MALFORMED, "NaN is not a JSON number"),
    "infinity": (lambda k: _claims_token(k, '{"a":Infinity}'), errors.TOKEN_MALFORMED, "Infinity is not a JSON number"),
    "float": (lambda k: _claims_token(k, '{"a":1.5}'), errors.TOKEN_MALFORMED, "not an integer"),
    "duplicate_hosts": (lambda k: _claims_token(k, '{"hosts":["web1"],"hosts":["web9"]}'), errors.TOKEN_MALFORMED, "duplicate key 'hosts'"),
    "spaces": (lambda k: _claims_token(k, '{"a": 1}'), errors.TOKEN_NOT_CANONICAL, "not in canonical form"),
    "unsorted_keys": (lambda k: _claims_token(k, '{"b":1,"a":2}'), errors.TOKEN_NOT_CANONICAL, "not in canonical form"),
    "escaped_letter": (lambda k: _claims_token(k, '{"a":"\\u0065"}'), errors.TOKEN_NOT_CANONICAL, "not in canonical form"),
}


@pytest.mark.parametrize("name", sorted(PARSER_CASES))
def test_malformed_envelopes_get_a_code_and_one_line(name: str) -> None:
    build, code, fragment = PARSER_CASES[name]
    error = _refused(code, decode_token, build(ApprovalKit()))
    assert fragment in error.message
    assert "\n" not in error.message


def test_duplicate_signed_key_in_the_envelope_is_refused() -> None:
    kit = ApprovalKit()
    envelope = canonical_json(json.loads(_body(kit.token())))
    doubled = envelope[:-1] + b',"signed":{}}'
    error = _refused(errors.TOKEN_MALFORMED, decode_token, _envelope_token(doubled))
    assert "duplicate key 'signed'" in error.message


def test_stray_bits_in_the_last_base64_character_are_refused() -> None:
    token = ApprovalKit().token()
    body = token[len(TOKEN_PREFIX) :]
    assert len(body) % 4 in (2, 3)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    flipped = body[:-1] + alphabet[alphabet.index(body[-1]) ^ 1]
    assert _body(TOKEN_PREFIX + flipped) == _body(token)  # the same bytes...
    error = _refused(errors.TOKEN_NOT_CANONICAL, decode_token, TOKEN_PREFIX + flipped)  # ...but not the same token
    assert "stray bits" in error.message


def test_unsorted_signatures_are_not_canonical() -> None:
    kit = ApprovalKit()
    envelope = json.loads(_body(kit.token()))
    envelope["signatures"].reverse()
    error = _refused(errors.SIGNATURE_MALFORMED, decode_token, _envelope_token(canonical_json(envelope)))
    assert "sorted by keyid" in error.message


@pytest.mark.parametrize("megabytes", [9, 13])
def test_oversized_tokens_are_refused_before_decoding_and_fast(megabytes: int) -> None:
    token = TOKEN_PREFIX + "A" * (megabytes * 1024 * 1024)
    start = time.perf_counter()
    error = _refused(errors.TOKEN_TOO_LARGE, decode_token, token)
    assert time.perf_counter() - start < 1.0  # generous: the size check reads no byte of the body
    assert "more than the limit of 1048576" in error.message


@pytest.mark.parametrize("year", ["0001", "9999", "1999"])
def test_years_outside_the_sane_range_are_refused(year: str) -> None:
    kit = ApprovalKit()
    error = _refused(errors.CLAIMS_INVALID, verify_token, kit.token(not_after=f"{year}-03-07T20:00:00Z"), kit.policy(), NOW, kit.scope())
    assert f"year {year} is outside 2000-2199" in error.message


def test_host_names_with_escape_sequences_or_decomposed_letters_are_refused_and_shown_escaped() -> None:
    kit = ApprovalKit()
    sneaky = kit.token(hosts=["web1", "web2\x1b[2K", "web3"])
    error = _refused(errors.CLAIMS_INVALID, verify_token, sneaky, kit.policy(), NOW, kit.scope())
    assert "web2\\x1b[2K" in error.message
    assert "\x1b" not in error.message
    nfd = kit.token(hosts=["caf\u0065\u0301", "web1", "web2"])
    assert "not in NFKC form" in _refused(errors.CLAIMS_INVALID, verify_token, nfd, kit.policy(), NOW, kit.scope()).message
    lookalike = kit.token(hosts=["web1", "web2", "w\u0435b3"])
    assert "mixes scripts" in _refused(errors.CLAIMS_INVALID, verify_token, lookalike, kit.policy(), NOW, kit.scope()).message


def test_one_token_id_has_one_token_string_for_one_signer_set() -> None:
    kit = ApprovalKit()
    claims = kit.claims()
    first = kit.sign(claims)
    again = kit.sign(dict(reversed(list(claims.items()))), owners=("dave", "carol", "bob", "alice"))
    assert first == again
    assert token_digest(first) == token_digest(again)


# --- the signed policy and the trust root ------------------------------------------------------


@pytest.fixture
def pinned(tmp_path: Path) -> tuple[ApprovalKit, Path]:
    kit = ApprovalKit(str(tmp_path / "ledger"))
    return kit, kit.install(tmp_path / "etc")


def _policy_file(tmp: Path, data: bytes, name: str = "p.json") -> str:
    path = tmp / name
    path.write_bytes(data)
    path.chmod(0o644)
    return str(path)


def test_the_pinned_policy_loads(pinned: tuple[ApprovalKit, Path]) -> None:
    kit, root_path = pinned
    root = load_trust_root(str(root_path))
    policy = read_policy_file(root.default_policy_path, root, NOW)
    assert (policy.version, policy.ledger_dir, root.threshold) == (1, kit.ledger_dir, 2)
    verify_token(kit.token(), policy, NOW, kit.scope())


@pytest.mark.parametrize(
    ("name", "mutate", "code", "fragment"),
    [
        ("nan_in_policy", lambda d: d.replace(b'"max_window_hours":12', b'"max_window_hours":NaN'), errors.POLICY_INVALID, "NaN is not a JSON number"),
        ("non_utf8_policy", lambda d: d.replace(b'"UTC"', b'"\xff"') if b'"UTC"' in d else d[:40] + b"\xff" + d[41:], errors.POLICY_INVALID, "not UTF-8"),
        ("bom", lambda d: b"\xef\xbb\xbf" + d, errors.POLICY_INVALID, "byte order mark"),
        ("pretty_printed", lambda d: json.dumps(json.loads(d), indent=1).encode(), errors.POLICY_INVALID, "not in canonical form"),
        ("unsigned_mapping", lambda d: canonical_json(json.loads(d)["signed"]), errors.POLICY_UNSIGNED, "not a signed policy document"),
    ],
)
def test_a_malformed_policy_file_is_refused_with_a_code(
    pinned: tuple[ApprovalKit, Path], tmp_path: Path, name: str, mutate: object, code: str, fragment: str
) -> None:
    kit, root_path = pinned
    root = load_trust_root(str(root_path))
    data = mutate(kit.policy_document())  # type: ignore[operator]
    error = _refused(code, read_policy_file, _policy_file(tmp_path, data), root, NOW)
    assert fragment in error.message


def test_a_policy_signed_by_other_keys_is_refused(pinned: tuple[ApprovalKit, Path], tmp_path: Path) -> None:
    _kit, root_path = pinned
    other = ApprovalKit()
    error = _refused(errors.POLICY_UNTRUSTED, read_policy_file, _policy_file(tmp_path, other.policy_document()), load_trust_root(str(root_path)), NOW)
    assert "signed by 0 policy administrators" in error.message


def test_an_expired_policy_is_refused(pinned: tuple[ApprovalKit, Path], tmp_path: Path) -> None:
    kit, root_path = pinned
    old = _policy_file(tmp_path, kit.policy_document(expires="2025-03-01T00:00:00Z"))
    error = _refused(errors.POLICY_EXPIRED, read_policy_file, old, load_trust_root(str(root_path)), NOW)
    assert "expired at 2025-03-01T00:00:00Z" in error.message


def test_a_group_writable_policy_file_is_refused(pinned: tuple[ApprovalKit, Path], tmp_path: Path) -> None:
    kit, root_path = pinned
    path = _policy_file(tmp_path, kit.policy_document())
    os.chmod(path, 0o666)
    error = _refused(errors.POLICY_FILE_UNSAFE, read_policy_file, path, load_trust_root(str(root_path)), NOW)
    assert "mode 0666" in error.message


def test_a_root_below_its_own_threshold_is_refused(tmp_path: Path) -> None:
    kit = ApprovalKit()
    path = Path(_policy_file(tmp_path, kit.root_document(signers=("root-ann",)), "root.json"))
    error = _refused(errors.TRUST_ROOT_INVALID, load_trust_root, str(path))
    assert "valid signatures of 1 of its administrators, its threshold is 2" in error.message


def test_a_missing_root_says_how_to_install_one(tmp_path: Path) -> None:
    error = _refused(errors.TRUST_ROOT_MISSING, load_trust_root, str(tmp_path / "none.json"))
    assert "root-install" in error.message


def test_rotation_needs_the_old_threshold_and_the_new(tmp_path: Path) -> None:
    kit = ApprovalKit()
    current = parse_root(parse_document(kit.root_document(), "r", errors.TRUST_ROOT_INVALID), "r")
    successor = ApprovalKit()  # new administrators
    signed = successor.root_signed(version=2)
    only_new = parse_document(successor.sign_document("root", signed, tuple(successor.admins.values())), "r2", errors.TRUST_ROOT_INVALID)
    error = _refused(errors.TRUST_ROOT_ROTATION, verify_rotation, current, only_new, "r2")
    assert "signed by 0 administrators of version 1" in error.message
    both = parse_document(successor.sign_document("root", signed, (*kit.admins.values(), *successor.admins.values())), "r2", errors.TRUST_ROOT_INVALID)
    assert verify_rotation(current, both, "r2").version == 2
    skipped = successor.root_signed(version=3)
    jumped = parse_document(successor.sign_document("root", skipped, (*kit.admins.values(), *successor.admins.values())), "r3", errors.TRUST_ROOT_INVALID)
    assert "the next must be 2" in _refused(errors.TRUST_ROOT_ROTATION, verify_rotation, current, jumped, "r3").message


def test_file_checks_refuse_others_owners_and_writable_parents(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    target = folder / "f.json"
    target.write_text("{}")
    check_file(str(target), "the file", "X")
    os.chown(target, 65534, 65534)
    assert "belongs to nobody" in _refused("X", check_file, str(target), "the file", "X").message
    os.chown(target, 0, 0)
    folder.chmod(0o775)
    assert "folder" in _refused("X", check_file, str(target), "the file", "X").message
    folder.chmod(0o755)
    link = tmp_path / "open"
    link.mkdir(mode=0o777)
    link.chmod(0o777)
    (link / "to-etc").symlink_to(target)
    assert "writable by group or others (mode 0777)" in _refused("X", check_file, str(link / "to-etc"), "the file", "X").message
    key = folder / "k.pem"
    key.write_text("k")
    key.chmod(0o644)
    assert "readable by group or others" in _refused("X", check_file, str(key), "the key", "X", private=True).message


# --- resume -----------------------------------------------------------------------------------


def _resume(ledger: TokenLedger, token: str, run_id: str = "job-1", fingerprint: str = "release-1", owner: RunOwner | None = None) -> bool:
    gone = owner or RunOwner(os.uname().nodename, 999_999_999, "gone")
    return ledger.consume(
        "apv-0123456789abcdef", token_digest(token), "CHG-2025-0117", run_id, NOW, fingerprint, "accounts-api", "prod", ("web1", "web2", "web3"), gone
    ).resumed


def test_an_unfinished_run_resumes_with_everything_the_same(ledger: TokenLedger) -> None:
    token = ApprovalKit().token()
    consume(ledger, token, "job-1", fingerprint="release-1")
    assert _resume(ledger, token) is True


@pytest.mark.parametrize(
    ("name", "arrange", "fragment"),
    [
        ("finished", lambda led, tok: led.finish("apv-0123456789abcdef", "job-1", "rolled_back", NOW), "finished (rolled_back)"),
        ("other_release", None, "the release or its batches differ"),
        ("other_token_string", None, "not the one that started the run"),
        ("still_running", None, "is still running"),
        ("other_controller", None, "held by a run on another controller"),
    ],
)
def test_resume_is_refused_outside_the_rule(ledger: TokenLedger, name: str, arrange: object, fragment: str) -> None:
    kit = ApprovalKit()
    token = kit.token()
    me = RunOwner(os.uname().nodename, os.getpid(), process_start_time(os.getpid()))
    consume(ledger, token, "job-1", fingerprint="release-1", owner=me if name == "still_running" else None)
    if arrange:
        arrange(ledger, token)  # type: ignore[operator]
    attempt = {
        "other_release": {"fingerprint": "release-2"},
        "other_token_string": {"token": kit.token(owners=("alice", "bob", "frank", "carol", "dave"))},
        "other_controller": {"owner": RunOwner("elsewhere", 1, "x")},
    }.get(name, {})
    error = _refused(errors.REPLAYED, _resume, ledger, attempt.pop("token", token), **attempt)
    assert fragment in error.message
    assert "job-1" not in error.message


def test_the_ledger_from_an_earlier_version_is_never_resumable(ledger: TokenLedger, tmp_path: Path) -> None:
    folder = tmp_path / "old-ledger"
    folder.mkdir(mode=0o700)
    line = {"token_id": "apv-0123456789abcdef", "token_sha256": "d" * 64, "change_id": "C", "run_id": "job-1", "consumed_at": "2025-03-07T13:00:00Z"}
    (folder / "consumed.jsonl").write_text(json.dumps(line) + "\n")
    import_jsonl_ledger(ledger, str(folder), NOW)
    error = _refused(errors.REPLAYED, _resume, ledger, ApprovalKit().token())
    assert "earlier version" in error.message


def test_claims_signing_payload_is_domain_separated_from_policies() -> None:
    claims = ApprovalKit.claims()
    payload = approval_signature_payload(claims, "2025-03-03T01:00:00Z")
    assert payload.startswith(b"opsgate.release/approval-signature/v1\n")
    # Neither a root's nor a policy's bytes, nor the earlier token format's (claims alone).
    assert payload != document_payload("policy", {"claims": claims, "signed_at": "2025-03-03T01:00:00Z"})
    assert not payload.startswith(b"opsgate.release/approval-token/v1\n")
    assert datetime.now(UTC) - NOW > timedelta(0)


def test_the_pinned_file_wins_over_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible_collections.opsgate.release.plugins.module_utils.approval import trust_root

    pinned = tmp_path / "etc-trust.json"
    monkeypatch.setenv(trust_root.TRUST_ROOT_ENV, str(tmp_path / "operator-root.json"))
    monkeypatch.setattr(trust_root, "DEFAULT_TRUST_ROOT", str(pinned))
    assert trust_root.trust_root_path() == str(tmp_path / "operator-root.json")  # no pinned file: tests and the demo
    pinned.write_text("{}")
    assert trust_root.trust_root_path() == str(pinned)  # a pinned controller ignores the variable
    assert trust_root.trust_root_path("explicit.json") == "explicit.json"  # the admin CLI's --trust-root


def test_a_ledger_file_others_can_write_stops_every_run(tmp_path: Path) -> None:
    root = SimpleNamespace(state_store={"backend": "sqlite"}, ledger_dir=str(tmp_path / "ledger"))
    token = ApprovalKit().token()
    with pinned_ledger(root) as ledger:
        consume(ledger, token, "job-1")
        path = ledger.location
    os.chmod(path, 0o666)
    with pytest.raises(errors.ApprovalError) as caught, pinned_ledger(root):
        pass
    assert caught.value.code == errors.STATE_STORE_ERROR
    assert f"state store {path}: must be owned by root or this user and writable by nobody else" in caught.value.message


def test_a_failed_end_is_not_overwritten_by_a_later_success(ledger: TokenLedger) -> None:
    token = ApprovalKit().token()
    consume(ledger, token, "job-1", fingerprint="release-1")
    ledger.finish("apv-0123456789abcdef", "job-1", "failed", NOW)
    ledger.finish("apv-0123456789abcdef", "job-1", "succeeded", NOW)
    assert "finished (failed)" in _refused(errors.REPLAYED, _resume, ledger, token).message


def test_a_token_file_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    from ansible_collections.opsgate.release.plugins.module_utils.approval.task_inputs import token_from_inputs

    fifo = tmp_path / "token.fifo"
    os.mkfifo(fifo)
    error = _refused(errors.TOKEN_MALFORMED, token_from_inputs, {"token_file": str(fifo)}, {}, lambda value: value)
    assert "is not a regular file" in error.message


def test_a_retired_key_record_cannot_repaint_the_terminal() -> None:
    kit = ApprovalKit()
    token = kit.token()
    dave = kit.approvers.pop("dave")
    retired = [{"keyid": dave.keyid, "owner": "dave\x1b[2J", "retired_on": "2025-03-06", "reason": "left\x1b[0m"}]
    error = _refused(errors.KEY_RETIRED, verify_token, token, kit.policy(retired_keys=retired), NOW, kit.scope())
    assert "\x1b" not in error.message
    assert "dave\\x1b[2J" in error.message
