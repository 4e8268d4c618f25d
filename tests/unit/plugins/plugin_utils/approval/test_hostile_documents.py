# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 15, hostile: the signed policy requires a deployment manual for core_business hosts (required_documents).

The plan is written by the real deploy.yml (-e deploy_change_out=FILE), the token signs its sha256, then each run is
the real deploy.yml against four local hosts. An operator who drops the document from the manifest with -e is refused
(APPROVAL_DOCUMENT_MISSING); a change the approvers signed without it is refused the same way; adding it only with -e,
after signing, is not what the approvers signed (APPROVAL_CHANGE_MISMATCH). Each refusal leaves the hosts byte for
byte unchanged and the token unused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from site_kit import HOSTS, PLAYBOOK_BIN, Site, _out, _refused

from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import change_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import new_token_id

pytestmark = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason="ansible-playbook is not installed next to the test interpreter")

MANUAL = {"kind": "deployment_manual", "title": "Deployment manual 1.0", "location": "https://wiki.example/sample_app/1.0", "sha256": "f1" * 32}
MISSING = ("APPROVAL_DOCUMENT_MISSING", "no deployment_manual (required for core_business hosts: core-a1, core-a2, core-a3, core-a4)")


class Planned:
    """A site whose policy requires a deployment manual of core_business changes; a plan written with or without it, and its token."""

    def __init__(self, tmp_path: Path, with_manual: bool) -> None:
        self.site = Site(tmp_path, change_document="required", required_documents={"core_business": ["deployment_manual"]})
        inventory = json.loads((tmp_path / "hosts.json").read_text())
        for host in inventory["all"]["hosts"].values():
            # One manifest for every host (its base_dir from a host variable), so -e can replace it whole, as an operator would.
            host["opsgate_base_dir"] = host["opsgate_release"]["base_dir"]
            self.artifact = host["opsgate_release"]["artifacts"][0]["src"]
            host["opsgate_release"] = self.manifest(with_manual)
        (tmp_path / "hosts.json").write_text(json.dumps(inventory))
        self.site.set_baseline()
        plan = tmp_path / "change.json"
        done = self.site.play("deploy.yml", self.site.token(), "-e", f"deploy_change_out={plan}")
        assert done.returncode == 0, _out(done)[-4000:]
        self.change = json.loads(plan.read_text())
        self.token = self.site.token(change_sha256=change_digest(self.change), token_id=new_token_id())
        self.before = self.site.hosts_snapshot()

    def manifest(self, with_manual: bool) -> dict[str, Any]:
        manifest: dict[str, Any] = {
            "app": "sample_app",
            "version": "1.0.0",
            "change_id": "CHG-2025-0117",
            "base_dir": "{{ opsgate_base_dir }}",
            "artifacts": [{"src": self.artifact, "sha256": "{{ app_sha256 }}"}],
            "service": {"type": "none"},
            "health": {"type": "none"},
        }
        if with_manual:
            manifest["documents"] = [MANUAL]
        return manifest

    def run(self, *args: str) -> Any:
        return self.site.play("deploy.yml", self.token, *args)


def test_dropping_the_required_manual_with_extra_vars_is_refused_and_the_signed_change_deploys(tmp_path: Path) -> None:
    planned = Planned(tmp_path, with_manual=True)
    assert planned.change["documents"] == [MANUAL], "the plan binds the manifest's documents"
    dropped = planned.run("-e", json.dumps({"opsgate_release": planned.manifest(with_manual=False)}))
    _refused(planned.site, dropped, planned.before, *MISSING)
    # Control: the change as signed passes the same gate (without it the refusal could come from a broken harness).
    done = planned.run()
    assert done.returncode == 0, _out(done)[-4000:]
    assert planned.site.hosts_snapshot() != planned.before
    for host in HOSTS:
        assert (planned.site.root / "hosts" / host / "current").is_symlink()


def test_a_change_signed_without_the_manual_is_refused_and_adding_it_with_extra_vars_is_not_what_was_signed(tmp_path: Path) -> None:
    planned = Planned(tmp_path, with_manual=False)
    assert planned.change["documents"] is None
    _refused(planned.site, planned.run(), planned.before, *MISSING)
    added = planned.run("-e", json.dumps({"opsgate_release": planned.manifest(with_manual=True)}))
    _refused(planned.site, added, planned.before, "APPROVAL_CHANGE_MISMATCH", "is not the change the approvers signed")
