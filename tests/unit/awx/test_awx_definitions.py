# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX definitions point at things that exist and keep the token secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
AWX = ROOT / "awx"
TEMPLATES = yaml.safe_load((AWX / "job_templates.yml").read_text())["opsgate_awx_job_templates"]
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_job_template_runs_a_playbook_of_the_collection(template: dict) -> None:
    assert template["playbook"].startswith("playbooks/")
    assert (ROOT / template["playbook"]).is_file(), template["playbook"]
    assert (AWX / "surveys" / template["survey"]).is_file()


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_survey_is_valid_and_never_shows_the_token(template: dict) -> None:
    survey = json.loads((AWX / "surveys" / template["survey"]).read_text())
    assert survey["name"] and survey["description"]
    variables = [q["variable"] for q in survey["spec"]]
    assert len(variables) == len(set(variables)), "duplicate survey variable"
    for question in survey["spec"]:
        assert question["type"] in SURVEY_TYPES, question
        assert {"question_name", "variable", "required"} <= question.keys()
        if question["type"] == "multiplechoice":
            assert question["default"] in question["choices"]
        if "token" in question["variable"]:
            assert question["type"] == "password", f"{question['variable']} must be a password question"
    if template["token_credential"]:
        assert "opsgate_approval_token" in variables


def test_rollouts_are_never_sliced() -> None:
    for template in TEMPLATES:
        if template["playbook"] != "playbooks/preflight.yml":
            assert template["job_slice_count"] == 1, template["name"]


def test_credential_type_injects_a_file_path_not_the_token() -> None:
    credential_type = yaml.safe_load((AWX / "credential_types/opsgate_approval_token.yml").read_text())
    fields = {f["id"]: f for f in credential_type["inputs"]["fields"]}
    assert fields["token"]["secret"] is True
    injected = credential_type["injectors"]["extra_vars"]
    assert set(injected) == {"opsgate_approval_token_file"}
    assert "{{ token }}" not in json.dumps(injected)
    assert credential_type["injectors"]["file"]["template.token"] == "{{ token }}"


def test_rollback_survey_variable_is_a_rollback_role_option() -> None:
    survey = json.loads((AWX / "surveys/rollback.json").read_text())
    specs = yaml.safe_load((ROOT / "roles/rollback/meta/argument_specs.yml").read_text())
    options = set(specs["argument_specs"]["main"]["options"])
    role_vars = [q["variable"] for q in survey["spec"] if q["variable"].startswith("rollback_")]
    assert role_vars and set(role_vars) <= options


def test_state_store_credential_injects_secrets_into_the_environment_only() -> None:
    """The DSN (with its password) and the signing key reach the job as environment and file, never as extra vars."""
    from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import DSN_ENV

    credential_type = yaml.safe_load((AWX / "credential_types/opsgate_state_store.yml").read_text())
    fields = {f["id"]: f for f in credential_type["inputs"]["fields"]}
    assert fields["dsn"]["secret"] is True
    assert fields["signing_key"]["secret"] is True
    injectors = credential_type["injectors"]
    assert "extra_vars" not in injectors
    assert injectors["env"][DSN_ENV] == "{{ dsn }}"
    assert injectors["env"]["OPSGATE_ARCHIVE_SIGNING_KEY"] == "{{ tower.filename.signing_key }}"
    assert injectors["file"]["template.signing_key"] == "{{ signing_key }}"


def test_configure_awx_creates_every_credential_type_and_attaches_the_store_credential() -> None:
    play = yaml.safe_load((AWX / "configure_awx.yml").read_text())[0]
    types_task = next(task for task in play["tasks"] if "awx.awx.credential_type" in task)
    assert sorted(types_task["loop"]) == sorted(path.name for path in (AWX / "credential_types").glob("*.yml"))
    templates_task = next(task for task in play["tasks"] if "awx.awx.job_template" in task)
    assert "opsgate_awx_state_store_credential" in templates_task["awx.awx.job_template"]["credentials"]
