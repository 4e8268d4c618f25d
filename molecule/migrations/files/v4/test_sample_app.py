"""Verification of sample_app 4.0.0: the region feature is expected but this build does not ship it."""


def test_the_service_runs(host):
    assert host.service("sample_app").is_running


def test_the_region_feature_is_enabled(host):
    assert host.file("/srv/sample_app/current/FEATURE_REGION").exists
