# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build a versioned artifact of the sample app and print its sha256.

The archive is reproducible (fixed mtimes, owners and order, gzip without a timestamp), so
the same version always has the same digest, and so the same release id.

    build.py 1.0.0 out/                      -> out/sample_app-1.0.0.tar.gz
    build.py 3.0.0 out/ --broken             -> /health answers 503
    build.py 4.0.0 out/ --padding-mb 4       -> carries 4 MiB of incompressible data
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
_EPOCH = 1_700_000_000


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = _EPOCH
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    archive.addfile(info, io.BytesIO(data))


def _padding(megabytes: int) -> bytes:
    """Deterministic bytes that gzip cannot shrink (a sha256 chain)."""
    out = bytearray()
    block = b"opsgate"
    while len(out) < megabytes << 20:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[: megabytes << 20])


def build(version: str, out_dir: str, broken: bool = False, padding_mb: int = 0) -> tuple[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    suffix = "-broken" if broken else ""
    path = os.path.join(out_dir, f"sample_app-{version}{suffix}.tar.gz")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        with open(os.path.join(HERE, "sample_app.py"), "rb") as handle:
            _add(archive, "sample_app.py", handle.read(), 0o755)
        _add(archive, "VERSION", f"{version}\n".encode())
        if broken:
            _add(archive, "BROKEN", b"this build fails its health check on purpose\n")
        if padding_mb:
            _add(archive, "padding.bin", _padding(padding_mb))
    with open(path, "wb") as handle, gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0) as gz:
        gz.write(raw.getvalue())
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return path, digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a sample_app artifact and print '<sha256>  <path>'.")
    parser.add_argument("version")
    parser.add_argument("out_dir")
    parser.add_argument("--broken", action="store_true", help="the build's /health answers 503")
    parser.add_argument("--padding-mb", type=int, default=0, help="add incompressible data (full-disk tests)")
    args = parser.parse_args(argv)
    path, digest = build(args.version, args.out_dir, args.broken, args.padding_mb)
    print(f"{digest}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
