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
