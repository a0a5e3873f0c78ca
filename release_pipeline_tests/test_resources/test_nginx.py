"""The nginx resource against the sandbox's real nginx."""

from pathlib import Path

import httpx
import pytest

from release_pipeline.errors import LoadBalancerError
from release_pipeline.resources.nginx import Backend, NginxResource, parse_state, render_upstream
from release_pipeline_tests.support import lb_url, nginx_settings

pytestmark = pytest.mark.sandbox


@pytest.fixture
def nginx(sandbox_env) -> NginxResource:
    return NginxResource(**nginx_settings(sandbox_env))


def test_render_then_parse_keeps_the_deployment_facts():
    text = render_upstream(
        "backend", [Backend("127.0.0.1:5000")], {"active": "green", "version": "7"}
    )

    assert parse_state(text).facts == {"active": "green", "version": "7"}
    assert "server 127.0.0.1:5000 weight=100;" in text


def test_a_config_nginx_rejects_leaves_the_live_config_untouched(sandbox_env, nginx):
    # data_service has no release job yet, so its upstream is free for this test.
    upstream = Path(sandbox_env["NGINX_UPSTREAM_DIR"]) / "data_service.conf"
    before = upstream.read_text()
    answer_before = httpx.get(lb_url(sandbox_env, "data_service") + "/health").status_code

    with pytest.raises(LoadBalancerError, match="live config is unchanged") as refused:
        nginx.apply("data_service", [Backend("127.0.0.1:99999")], {"active": "blue"})

    assert "invalid port" in str(refused.value) or "99999" in str(refused.value)
    assert upstream.read_text() == before
    assert httpx.get(lb_url(sandbox_env, "data_service") + "/health").status_code == answer_before


def test_applying_the_same_upstream_twice_reloads_once(nginx):
    facts = {"active": "blue", "version": "same"}
    backends = [Backend("127.0.0.1:9", weight=1)]

    first = nginx.apply("data_service", backends, facts)
    second = nginx.apply("data_service", backends, facts)

    assert (first, second) == (True, False)
    assert nginx.read_state("data_service").get("version") == "same"


def test_lb_url_of_an_unbalanced_service_is_a_clear_error(nginx):
    with pytest.raises(LoadBalancerError, match="No load balancer URL for 'database'"):
        nginx.lb_url("database")


def test_a_failed_reload_puts_the_upstream_file_back(sandbox_env, tmp_path):
    # nginx itself, except that the reload signal cannot be delivered.
    wrapper = tmp_path / "nginx"
    wrapper.write_text(
        '#!/bin/sh\ncase "$*" in *reload*) echo "nginx: [error] open() nginx.pid failed" >&2;'
        f' exit 1;; esac\nexec {sandbox_env["NGINX_BIN"]} "$@"\n'
    )
    wrapper.chmod(0o755)
    nginx = NginxResource(**{**nginx_settings(sandbox_env), "nginx_bin": str(wrapper)})
    upstream = Path(sandbox_env["NGINX_UPSTREAM_DIR"]) / "data_service.conf"
    before = upstream.read_text()

    with pytest.raises(LoadBalancerError, match="reload failed") as refused:
        nginx.apply("data_service", [Backend("127.0.0.1:9", weight=7)], {"active": "reload"})

    assert "put back" in str(refused.value)
    assert upstream.read_text() == before
