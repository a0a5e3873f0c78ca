"""The Cloudflare Pages publisher's command line and environment (no account is reachable here)."""

from pathlib import Path

from release_pipeline.resources.cloudflare_pages import CloudflarePages


def pages() -> CloudflarePages:
    return CloudflarePages(api_token="cf-token-secret", account_id="acc123")


def test_deploy_command_matches_the_seed_project_and_branch():
    command = pages().deploy_command(Path("dist"), commit="abc123", version="42")

    assert command[:6] == ["npx", "--yes", "wrangler", "pages", "deploy", "dist"]
    assert "--project-name=trading-frontend" in command
    assert "--branch=production" in command
    assert "--commit-hash=abc123" in command


def test_the_token_travels_in_the_environment_never_on_the_command_line():
    publisher = pages()

    command = publisher.deploy_command(Path("dist"), commit="abc", version="1")
    env = publisher.deploy_env()

    assert not any("cf-token-secret" in part for part in command)
    assert env["CLOUDFLARE_API_TOKEN"] == "cf-token-secret"
    assert env["CLOUDFLARE_ACCOUNT_ID"] == "acc123"
    assert "cf-token-secret" not in repr(publisher)


def test_a_deployment_commit_comes_from_its_deployment_trigger(monkeypatch):
    listed = [
        {"short_id": "bbbb2222", "deployment_trigger": {"metadata": {"commit_hash": "c2"}}},
        {"short_id": "aaaa1111", "deployment_trigger": {"metadata": {"commit_hash": "c1"}}},
        {"short_id": "0000ffff", "deployment_trigger": {"type": "ad_hoc"}},
    ]
    monkeypatch.setattr(CloudflarePages, "_call", lambda self, method, path: listed)

    publisher = pages()

    assert publisher.commit("web", "aaaa1111") == "c1"
    assert publisher.commit("web", "0000ffff") is None
    assert publisher.commit("web", "gone0000") is None
