# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The module's main() with a real AnsibleModule: arguments in, result read as a value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.opsgate.release.plugins.module_utils.host_facts.collect import SUBSETS
from ansible_collections.opsgate.release.plugins.modules import host_facts


class ModuleExit(Exception):
    def __init__(self, result: dict[str, Any], failed: bool) -> None:
        super().__init__(result)
        self.result = result
        self.failed = failed


def run_module(args: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> ModuleExit:
    """exit_json / fail_json raise, so the result comes back as a value (kubernetes.core's ansible_module_mock)."""

    def exit_json(self: Any, **kwargs: Any) -> None:
        raise ModuleExit(kwargs, failed=False)

    def fail_json(self: Any, msg: str, **kwargs: Any) -> None:
        raise ModuleExit({"msg": msg, **kwargs}, failed=True)

    monkeypatch.setattr(host_facts.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(host_facts.AnsibleModule, "fail_json", fail_json)
    with patch_module_args(args), pytest.raises(ModuleExit) as caught:
        host_facts.main()
    return caught.value


def test_module_returns_facts_of_a_fixture_host(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))
    try:
        from host_facts.fixture_trees import bare_metal_server  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    root = bare_metal_server(tmp_path)
    outcome = run_module({"root": str(root), "gather_subset": ["hbas", "cpu"], "users": ["oracle"], "_ansible_check_mode": True}, monkeypatch)
    assert not outcome.failed
    assert outcome.result["changed"] is False
    facts = outcome.result["ansible_facts"]["opsgate_host"]
    assert facts["gather_subset"] == ["cpu", "hbas"]
    assert [h["wwpn"] for h in facts["hbas"]] == ["21000024ff7e1a2b", "21000024ff7e1a2c", "10000090fa8b4c6e", "10000090fa8b4c6f"]
    assert facts["cpu"]["mhz_max"] == 3900
    assert "users" not in facts  # not selected, even though names were given
    json.dumps(outcome.result)  # what the controller receives must serialise


def test_module_defaults_read_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = run_module({}, monkeypatch)
    facts = outcome.result["ansible_facts"]["opsgate_host"]
    assert facts["root"] == "/"
    assert facts["gather_subset"] == list(SUBSETS)
    json.dumps(outcome.result)


def test_module_bad_subset_fails_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = run_module({"gather_subset": ["cpu", "gpus"]}, monkeypatch)
    assert outcome.failed
    assert outcome.result["msg"].startswith("gather_subset[1]: 'gpus' is not one of all, system, cpu")


def test_argspec_matches_documentation() -> None:
    import yaml

    documented = yaml.safe_load(host_facts.DOCUMENTATION)["options"]
    spec = host_facts.argspec()
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
        assert documented[name].get("elements") == option.get("elements"), name


def test_module_reads_the_running_release_for_the_record(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    from pathlib import Path

    from ansible_collections.opsgate.release.plugins.module_utils.release.settle import commit_release
    from ansible_collections.opsgate.release.plugins.module_utils.release.stage import stage_release
    from ansible_collections.opsgate.release.plugins.module_utils.release.switch import SwitchRequest, switch_release
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))
    try:
        from release.release_fixtures import make_artifact, stage_request  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)

    (tmp_path / "artifacts").mkdir()
    base = str(tmp_path / "base")
    path, sha = make_artifact(str(tmp_path / "artifacts"), "1.4.0")
    request = stage_request(base, path, sha, "1.4.0")
    stage_release(request)
    switch_release(SwitchRequest(base, request.identity))
    commit_release(base, request.identity, "deploy", 3)

    outcome = run_module({"gather_subset": ["os"], "release_base_dir": base, "_ansible_check_mode": True}, monkeypatch)
    assert not outcome.failed
    running = outcome.result["running_release"]
    assert running == {"base_dir": base, "current": request.identity.release_id, "version": "1.4.0", "state": "good", "error": None}

    # No release there: nothing runs, and that is not an error; a base_dir that is a file cannot be read, which is said.
    nothing = run_module({"gather_subset": ["os"], "release_base_dir": str(tmp_path / "none")}, monkeypatch).result["running_release"]
    assert (nothing["current"], nothing["error"]) == (None, None)
    (tmp_path / "file").write_text("x")
    broken = run_module({"gather_subset": ["os"], "release_base_dir": str(tmp_path / "file")}, monkeypatch)
    assert not broken.failed
    assert broken.result["running_release"]["current"] is None
    assert str(tmp_path / "file") in broken.result["running_release"]["error"]

    # Without the option nothing is read.
    assert run_module({"gather_subset": ["os"]}, monkeypatch).result["running_release"] is None
