"""Verification of sample_app 2.0.0 after deployment (pytest-testinfra, run by opsgate.release.release_verify)."""


def test_the_service_runs(host):
    assert host.service("sample_app").is_running


def test_the_release_is_current(host):
    assert host.file("/srv/sample_app/current/VERSION").content_string.strip() == "2.0.0"


def test_it_reads_orders_with_their_status(host):
    rows = host.check_output("curl -fsS http://127.0.0.1:8080/data").splitlines()
    assert len(rows) == 3
    assert all(row.endswith("|new") for row in rows), rows
