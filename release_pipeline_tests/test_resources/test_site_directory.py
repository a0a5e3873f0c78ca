"""The directory publisher: immutable deployments and an atomic production pointer."""

import pytest

from release_pipeline.errors import PublishError
from release_pipeline.resources.site_directory import DirectorySite


def build(tmp_path, name: str, asset: str):
    folder = tmp_path / name
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text(f"<script src=/assets/{asset}></script>")
    (folder / "assets" / asset).write_text(name)
    return folder


def test_activate_moves_the_pointer_and_keeps_earlier_deployments(tmp_path):
    site = DirectorySite(sites_dir=str(tmp_path / "sites"))
    site.publish("web", build(tmp_path, "b1", "app-1.js"), "001-a", commit="c1")
    site.activate("web", "001-a")
    site.publish("web", build(tmp_path, "b2", "app-2.js"), "002-b", commit="c2")

    site.activate("web", "002-b")

    assert site.live("web") == "002-b"
    assert site.deployments("web") == ["001-a", "002-b"]


def test_a_new_deployment_still_serves_the_assets_of_the_live_one(tmp_path):
    site = DirectorySite(sites_dir=str(tmp_path / "sites"))
    site.publish("web", build(tmp_path, "b1", "app-1.js"), "001-a", commit="c1")
    site.activate("web", "001-a")

    site.publish("web", build(tmp_path, "b2", "app-2.js"), "002-b", commit="c2")

    assets = tmp_path / "sites" / "web" / "deployments" / "002-b" / "assets"
    assert sorted(p.name for p in assets.iterdir()) == ["app-1.js", "app-2.js"]


def test_a_deployment_id_is_never_overwritten(tmp_path):
    site = DirectorySite(sites_dir=str(tmp_path / "sites"))
    site.publish("web", build(tmp_path, "b1", "a.js"), "001-a", commit="c1")

    with pytest.raises(PublishError, match="already exists"):
        site.publish("web", build(tmp_path, "b2", "b.js"), "001-a", commit="c2")


def test_each_deployment_keeps_its_commit_until_it_is_removed(tmp_path):
    site = DirectorySite(sites_dir=str(tmp_path / "sites"))
    site.publish("web", build(tmp_path, "b1", "a.js"), "001-a", commit="c1")
    site.publish("web", build(tmp_path, "b2", "b.js"), "002-b", commit="c2")

    site.remove("web", "001-a")

    assert (site.commit("web", "001-a"), site.commit("web", "002-b")) == (None, "c2")
    assert site.deployments("web") == ["002-b"]
