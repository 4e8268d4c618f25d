# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Operations archive (issues 8 and 14): one record per playbook run, in the controllers' state store.

record.py builds a run's record from its events; store.py appends each write of it as an entry of
an append-only log in the store, hash-chained and signed (chain.py, signing.py), with the files a
record names by sha256 (each host's JUnit report) beside it (attachments.py); retention.py,
folder_import.py and evidence.py prune it, import old archive folders and export a change's
evidence bundle; query.py and render.py filter and render records.

Nothing in this package imports Ansible: ``bin/opsgate-archive`` imports it as a plain
``archive`` package (with ``state_store`` and ``approval`` beside it), the ``opsgate.release.archive``
callback by its collection name. Inside the package, imports are relative so both work.
"""
