"""RELEASE_CATALOG points the code location at another catalog file."""

from collections.abc import Iterator

import pytest
import yaml

from release_pipeline.catalog import CATALOG_ENV, CATALOG_PATH, default_catalog
from release_pipeline.errors import CatalogError


@pytest.fixture(autouse=True)
def fresh_default_catalog() -> Iterator[None]:
    """default_catalog is cached per process; each test reads the variable anew."""
    default_catalog.cache_clear()
    yield
    default_catalog.cache_clear()


def test_default_catalog_without_the_variable_is_the_packaged_one(monkeypatch):
    monkeypatch.delenv(CATALOG_ENV, raising=False)

    assert "backend" in default_catalog().services


def test_default_catalog_with_an_empty_variable_is_the_packaged_one(monkeypatch):
    # What a compose file's `${RELEASE_CATALOG:-}` passes on when the host has none.
    monkeypatch.setenv(CATALOG_ENV, "")

    assert "backend" in default_catalog().services


def test_default_catalog_reads_the_file_the_variable_names(monkeypatch, tmp_path):
    raw = yaml.safe_load(CATALOG_PATH.read_text())
    raw["services"] = {"billing": raw["services"]["backend"]}
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv(CATALOG_ENV, str(path))

    assert sorted(default_catalog().services) == ["billing"]


def test_default_catalog_refuses_a_missing_file_naming_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(CATALOG_ENV, str(tmp_path / "nowhere.yaml"))

    with pytest.raises(CatalogError, match=r"RELEASE_CATALOG=.*nowhere\.yaml.* is not a file"):
        default_catalog()


def test_default_catalog_refuses_a_relative_path(monkeypatch):
    monkeypatch.setenv(CATALOG_ENV, "catalog.yaml")

    with pytest.raises(CatalogError, match="relative path. Give the catalog file's absolute"):
        default_catalog()
