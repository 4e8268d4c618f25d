# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one exception every approval check raises, and its stable codes."""

from __future__ import annotations

# Stable codes: docs/approvals.md lists them; automation may match on them.
TOKEN_MISSING = "APPROVAL_TOKEN_MISSING"
TOKEN_MALFORMED = "APPROVAL_TOKEN_MALFORMED"
TOKEN_TRUNCATED = "APPROVAL_TOKEN_TRUNCATED"
TOKEN_BAD_BASE64 = "APPROVAL_TOKEN_BAD_BASE64"
TOKEN_TOO_LARGE = "APPROVAL_TOKEN_TOO_LARGE"
TOKEN_NOT_CANONICAL = "APPROVAL_TOKEN_NOT_CANONICAL"
CLAIMS_INVALID = "APPROVAL_CLAIMS_INVALID"
SIGNATURE_MALFORMED = "APPROVAL_SIGNATURE_MALFORMED"
NO_SIGNATURES = "APPROVAL_NO_SIGNATURES"
KEY_DUPLICATE = "APPROVAL_KEY_DUPLICATE"
KEY_UNKNOWN = "APPROVAL_KEY_UNKNOWN"
KEY_RETIRED = "APPROVAL_KEY_RETIRED"
CLAIMS_TAMPERED = "APPROVAL_CLAIMS_TAMPERED"
SIGNATURE_INVALID = "APPROVAL_SIGNATURE_INVALID"
OWNER_DUPLICATE = "APPROVAL_OWNER_DUPLICATE"
REQUESTER_SIGNED = "APPROVAL_REQUESTER_SIGNED"
CLASS_UNKNOWN = "APPROVAL_CLASS_UNKNOWN"
ROLE_MISSING = "APPROVAL_ROLE_MISSING"
THRESHOLD_NOT_MET = "APPROVAL_THRESHOLD_NOT_MET"
WINDOW_INVALID = "APPROVAL_WINDOW_INVALID"
WINDOW_TOO_LONG = "APPROVAL_WINDOW_TOO_LONG"
NOT_YET_VALID = "APPROVAL_NOT_YET_VALID"
EXPIRED = "APPROVAL_EXPIRED"
LEAD_TIME_TOO_SHORT = "APPROVAL_LEAD_TIME_TOO_SHORT"
ACTION_MISMATCH = "APPROVAL_ACTION_MISMATCH"
APP_MISMATCH = "APPROVAL_APP_MISMATCH"
VERSION_MISMATCH = "APPROVAL_VERSION_MISMATCH"
DIGEST_MISMATCH = "APPROVAL_DIGEST_MISMATCH"
ENV_MISMATCH = "APPROVAL_ENV_MISMATCH"
HOSTS_MISMATCH = "APPROVAL_HOSTS_MISMATCH"
SYSTEM_MISMATCH = "APPROVAL_SYSTEM_MISMATCH"
SYSTEM_CLASS_MISMATCH = "APPROVAL_SYSTEM_CLASS_MISMATCH"
SCOPE_INVALID = "APPROVAL_SCOPE_INVALID"
REPLAYED = "APPROVAL_REPLAYED"
LEDGER_ERROR = "APPROVAL_LEDGER_ERROR"
POLICY_INVALID = "APPROVAL_POLICY_INVALID"
POLICY_UNSIGNED = "APPROVAL_POLICY_UNSIGNED"
POLICY_UNTRUSTED = "APPROVAL_POLICY_UNTRUSTED"
POLICY_EXPIRED = "APPROVAL_POLICY_EXPIRED"
POLICY_ROLLBACK = "APPROVAL_POLICY_ROLLBACK"
POLICY_FILE_UNSAFE = "APPROVAL_POLICY_FILE_UNSAFE"
TRUST_ROOT_MISSING = "APPROVAL_TRUST_ROOT_MISSING"
TRUST_ROOT_UNSAFE = "APPROVAL_TRUST_ROOT_UNSAFE"
TRUST_ROOT_INVALID = "APPROVAL_TRUST_ROOT_INVALID"
TRUST_ROOT_ROTATION = "APPROVAL_TRUST_ROOT_ROTATION"
LEDGER_UNSAFE = "APPROVAL_LEDGER_UNSAFE"
REQUESTER_UNPROVEN = "APPROVAL_REQUESTER_UNPROVEN"
NAME_INVALID = "APPROVAL_NAME_INVALID"
FROZEN = "APPROVAL_FROZEN"
RECEIPT_MISSING = "APPROVAL_RECEIPT_MISSING"
RECEIPT_MISMATCH = "APPROVAL_RECEIPT_MISMATCH"
RECEIPT_HOST_NOT_COVERED = "APPROVAL_RECEIPT_HOST_NOT_COVERED"
RECEIPT_CHECK_MODE = "APPROVAL_RECEIPT_CHECK_MODE"
KEY_FILE_INVALID = "APPROVAL_KEY_FILE_INVALID"
ALREADY_SIGNED = "APPROVAL_ALREADY_SIGNED"


class ApprovalError(Exception):
    """A refused token, policy or run, with a stable code and a message naming the unmet condition.

    Messages name claims, key ids, owners and values, never the token string or signature bytes.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class MissingLibraryError(Exception):
    """A Python library the approval code needs is not installed where it runs.

    Not an ApprovalError: nothing was refused, the controller lacks a package. Action plugins
    turn it into a failed task (AnsibleActionFail); the CLI prints it and exits with 1.
    """

    def __init__(self, library: str, pip_name: str, import_error: str | None) -> None:
        reason = import_error.strip().splitlines()[-1] if import_error else "not importable"
        message = (
            f"the Python library {library} is needed for approval tokens and is not installed in the Python that runs this code ({reason}); "
            f"install it with: python3 -m pip install {pip_name}"
        )
        super().__init__(message)
        self.library = library
        self.message = message
