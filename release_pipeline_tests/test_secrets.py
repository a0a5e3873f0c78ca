"""Credentials in configured URLs stay out of messages."""

import subprocess

import pytest

from release_pipeline.errors import PrometheusError, ReleaseInputError
from release_pipeline.resources.git import GitResource
from release_pipeline.resources.http_probe import HttpProbeResource
from release_pipeline.resources.prometheus import PrometheusResource
from release_pipeline.secrets import redact_known, without_userinfo

TOKEN = "ghp_NotARealToken123"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"in https://ci-bot:{TOKEN}@git.example.com/repo.git.", "https://***@git.example.com/"),
        (f"'http://{TOKEN}@127.0.0.1:9090/'", "'http://***@127.0.0.1:9090/'"),
        ("http://127.0.0.1:9090/api?x=a@b", "http://127.0.0.1:9090/api?x=a@b"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
    ],
)
def test_without_userinfo_hides_url_credentials_and_nothing_else(text, shown):
    assert shown in without_userinfo(text)
    assert TOKEN not in without_userinfo(text)


def test_an_unknown_ref_names_the_remote_without_its_token(tmp_path, monkeypatch):
    origin = tmp_path / "origin"
    git = ["git", "-C", str(origin), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(origin)], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], check=True)
    remote = f"https://ci-bot:{TOKEN}@git.example.invalid/repo.git"
    # git itself maps the tokened remote to the local repository, so the clone succeeds.
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", f"url.{origin}.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", remote)
    resource = GitResource(repo_url=remote, work_dir=str(tmp_path / "work"))

    with pytest.raises(ReleaseInputError, match="does not exist") as refused:
        resource.checkout("releses/v1.2", name="run1")

    assert TOKEN not in str(refused.value)
    assert "https://***@git.example.invalid/repo.git" in str(refused.value)


def test_an_unreachable_prometheus_is_named_without_its_password():
    prometheus = PrometheusResource(url=f"http://admin:{TOKEN}@127.0.0.1:9", timeout_seconds=1)

    with pytest.raises(PrometheusError, match="unreachable") as failed:
        prometheus.query("up")

    assert TOKEN not in str(failed.value) and "http://***@127.0.0.1:9" in str(failed.value)


def test_a_failed_probe_names_the_url_without_its_password():
    result = HttpProbeResource(timeout_seconds=1).check(f"http://admin:{TOKEN}@127.0.0.1:9/")

    assert not result.ok
    assert TOKEN not in result.detail and "http://***@127.0.0.1:9/" in result.detail


def test_redact_known_also_hides_url_credentials_in_failure_text():
    text = f"fatal: could not read from 'https://ci-bot:{TOKEN}@git.example.invalid/r.git'"

    assert TOKEN not in redact_known(text)
