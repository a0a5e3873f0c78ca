from pathlib import Path

import pytest
import yaml

from release_pipeline.catalog import CATALOG_PATH, load_catalog
from release_pipeline.errors import CatalogError, ReleaseInputError


def write_catalog(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(CATALOG_PATH.read_text())
    mutate(raw)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_catalog_declares_the_five_services_of_the_platform():
    catalog = load_catalog()

    assert sorted(catalog.services) == [
        "backend",
        "data_service",
        "database",
        "frontend",
        "ml_engine",
    ]
    assert catalog.service("backend").port == 3001
    assert catalog.service("backend").strategy.kind == "blue_green"
    assert catalog.service("ml_engine").image.dockerfile == "Dockerfile.gpu"
    assert "JWT_SECRET" in catalog.service("backend").secrets


def test_catalog_error_names_the_service_and_the_field(tmp_path):
    def break_retries(raw):
        raw["services"]["backend"]["strategy"]["health_retries"] = "many"

    with pytest.raises(CatalogError) as error:
        load_catalog(write_catalog(tmp_path, break_retries))

    assert "service 'backend'" in str(error.value)
    assert "strategy.blue_green.health_retries" in str(error.value)


def test_catalog_rejects_an_unknown_field_naming_it(tmp_path):
    def add_typo(raw):
        raw["services"]["ml_engine"]["imgae"] = {"name": "x"}

    with pytest.raises(CatalogError, match=r"service 'ml_engine'.*'imgae'"):
        load_catalog(write_catalog(tmp_path, add_typo))


def test_catalog_rejects_an_unknown_strategy_kind(tmp_path):
    def bad_kind(raw):
        raw["services"]["data_service"]["strategy"]["kind"] = "yolo"

    with pytest.raises(CatalogError, match=r"service 'data_service'.*strategy"):
        load_catalog(write_catalog(tmp_path, bad_kind))


def test_catalog_rejects_secret_names_that_are_not_variable_names(tmp_path):
    def bad_secret(raw):
        raw["services"]["backend"]["secrets"].append("jwt-secret")

    with pytest.raises(CatalogError, match=r"service 'backend'.*secrets"):
        load_catalog(write_catalog(tmp_path, bad_secret))


def test_unknown_service_lists_the_known_ones():
    with pytest.raises(CatalogError, match=r"Unknown service 'billing'.*backend, data_service"):
        load_catalog().service("billing")


def test_unreadable_catalog_says_which_file(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text("services: [unclosed")

    with pytest.raises(CatalogError, match=str(path)):
        load_catalog(path)


def test_catalog_rejects_build_secrets_not_declared_as_secrets(tmp_path):
    def undeclared(raw):
        raw["services"]["frontend"]["build_secrets"].append("VITE_UNDECLARED")

    with pytest.raises(CatalogError, match=r"service 'frontend'.*build_secrets"):
        load_catalog(write_catalog(tmp_path, undeclared))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"health_retries": 0}, "health_retries"), ({"scale_down_delay_seconds": -1}, "scale_down")],
)
def test_run_overrides_are_validated_like_the_catalog(overrides, field):
    with pytest.raises(ReleaseInputError, match=field):
        load_catalog().service("backend").strategy_with(overrides)


BACKEND_HEAD = "  backend:\n    description: Node.js API behind nginx\n"


@pytest.mark.parametrize(
    ("added", "key"),
    [
        ("    strategy: {kind: blue_green}\n", "strategy"),
        ("    verification: null\n", "verification"),
    ],
    ids=["strategy", "verification"],
)
def test_a_field_written_twice_is_refused_naming_the_key_and_its_lines(tmp_path, added, key):
    text = CATALOG_PATH.read_text()
    assert BACKEND_HEAD in text
    path = tmp_path / "catalog.yaml"
    path.write_text(text.replace(BACKEND_HEAD, BACKEND_HEAD + added, 1))

    with pytest.raises(CatalogError, match=rf"key '{key}' appears twice .*\(lines \d+ and \d+\)"):
        load_catalog(path)


def test_a_service_declared_twice_is_refused(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(
        CATALOG_PATH.read_text() + "\n  backend:\n    source_dir: apps/backend\n    port: 3001\n"
    )

    with pytest.raises(CatalogError, match="key 'backend' appears twice"):
        load_catalog(path)


def test_keys_merged_in_with_an_anchor_may_still_be_overridden(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(
        "platform: {repository: x}\n"
        "defaults: &defaults {source_dir: apps/a, port: 3000, strategy: {kind: blue_green}}\n"
        "services:\n  api:\n    <<: *defaults\n    port: 3001\n"
    )

    assert load_catalog(path).service("api").port == 3001


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda body: body.update(name="backend"), r"service 'backend': remove field 'name'"),
        (lambda body: body.update({1: "x"}), r"service 'backend': field 1 is not a field name"),
    ],
    ids=["name", "number"],
)
def test_odd_keys_in_a_service_body_name_the_service(tmp_path, mutate, message):
    with pytest.raises(CatalogError, match=message):
        load_catalog(write_catalog(tmp_path, lambda raw: mutate(raw["services"]["backend"])))


def test_a_check_that_alerts_nobody_is_refused(tmp_path):
    def silence(raw):
        raw["services"]["backend"]["verification"]["checks"][0]["alert"] = []

    with pytest.raises(CatalogError, match=r"verification\.checks\.0\.alert.*alerts nobody"):
        load_catalog(write_catalog(tmp_path, silence))


def test_an_api_key_must_be_one_of_the_service_secrets(tmp_path):
    def misspell(raw):
        raw["services"]["ml_engine"]["smoke"][1]["api_key_secret"] = "ML_APIKEY"

    with pytest.raises(
        CatalogError, match=r"service 'ml_engine'.*smoke\.1\.api_key_secret 'ML_APIKEY' is not"
    ):
        load_catalog(write_catalog(tmp_path, misspell))


def test_freeze_window_environments_are_lower_case(tmp_path):
    def capitalised(raw):
        raw["platform"]["freeze_windows"] = [
            {
                "name": "market_hours",
                "weekdays": ["mon"],
                "start": "09:30",
                "end": "16:00",
                "timezone": "America/New_York",
                "environments": ["Production"],
            }
        ]

    with pytest.raises(
        CatalogError, match=r"freeze_windows\.0\.environments.*lower case.*\['production'\]"
    ):
        load_catalog(write_catalog(tmp_path, capitalised))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Europe/Madird", r"schedule\.timezone.*Unknown time zone 'Europe/Madird'"),
        ("jenkins_spec", "H 25 * * *", r"'schedule'.*jenkins_spec.*'H 25 \* \* \*'.*hour 0-23"),
        ("jenkins_spec", "H 2 31 2 *", r"jenkins_spec.*the date must exist"),
        ("jenkins_spec", "H 2 * *", r"jenkins_spec.*must have 5 fields"),
    ],
)
def test_a_bad_schedule_fails_at_load_naming_the_service_and_field(tmp_path, field, value, message):
    def set_schedule(raw):
        raw["services"]["frontend"]["schedule"][field] = value

    with pytest.raises(CatalogError, match=rf"service 'frontend': .*{message}"):
        load_catalog(write_catalog(tmp_path, set_schedule))
