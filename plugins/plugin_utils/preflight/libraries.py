# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""jmespath and netaddr, the controller libraries preflight needs, imported the way community.crypto imports cryptography.

A controller without them can still import the collection's plugins (ansible-doc, ansible-test's
import test); the preflight task that needs one fails naming the package and how to install it.
"""

from __future__ import annotations

import traceback

__all__ = ["JMESPATH_IMPORT_ERROR", "NETADDR_IMPORT_ERROR", "MissingLibraryError", "jmespath", "netaddr", "require_jmespath", "require_netaddr"]

try:
    import jmespath
except ImportError:
    jmespath = None
    JMESPATH_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    JMESPATH_IMPORT_ERROR = None

try:
    import netaddr
except ImportError:
    netaddr = None
    NETADDR_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    NETADDR_IMPORT_ERROR = None


class MissingLibraryError(Exception):
    """A library preflight needs is not installed on the controller; the action plugin fails the task with this message."""

    def __init__(self, library: str, import_error: str) -> None:
        reason = import_error.strip().splitlines()[-1]
        message = (
            f"preflight needs the Python library {library} on the controller, in the Python that runs ansible ({reason}); "
            f"install it with: python3 -m pip install {library}"
        )
        super().__init__(message)
        self.library = library
        self.message = message


def require_jmespath() -> None:
    if JMESPATH_IMPORT_ERROR is not None:
        raise MissingLibraryError("jmespath", JMESPATH_IMPORT_ERROR)


def require_netaddr() -> None:
    if NETADDR_IMPORT_ERROR is not None:
        raise MissingLibraryError("netaddr", NETADDR_IMPORT_ERROR)
