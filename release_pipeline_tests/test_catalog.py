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
