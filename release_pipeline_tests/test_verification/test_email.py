"""EmailResource against the sandbox's mail server: STARTTLS, a login, and failures that warn."""

import pytest
from pydantic import ValidationError

from release_pipeline.resources.email import EmailResource
from sandbox._common import free_port
from sandbox.smtp import smtp_messages, smtp_reset

pytestmark = pytest.mark.sandbox


class Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, msg: str) -> None:
        self.warnings.append(msg)


def email(env: dict[str, str], **changes) -> EmailResource:
    settings = {
        "host": env["SMTP_HOST"],
        "port": int(env["SMTP_PORT"]),
        "sender": env["SMTP_FROM"],
        "recipients": env["SMTP_TO"],
        "username": env["SMTP_USERNAME"],
        "password": env["SMTP_PASSWORD"],
        "tls": env["SMTP_TLS"],
        "ca_file": env["SMTP_CA_FILE"],
    }
    return EmailResource(**{**settings, **changes})


@pytest.fixture(autouse=True)
def empty_mailbox(sandbox_env):
    smtp_reset(sandbox_env)


def test_mail_goes_out_over_starttls_after_a_login(sandbox_env):
    log = Log()

    sent = email(sandbox_env).send("backend 42 breached cpu_usage", "cpu_usage=0.91", log)

    assert sent and log.warnings == []
    [mail] = smtp_messages(sandbox_env)
    assert mail["subject"] == "backend 42 breached cpu_usage"
    assert mail["body"].strip() == "cpu_usage=0.91"
    assert (mail["from"], mail["rcpt_tos"]) == (sandbox_env["SMTP_FROM"], [sandbox_env["SMTP_TO"]])
    assert mail["tls"] is True
    assert mail["login"] == sandbox_env["SMTP_USERNAME"]


def test_every_recipient_gets_the_mail(sandbox_env):
    assert email(sandbox_env, recipients="oncall@x.invalid, team@x.invalid").send("s", "b", Log())

    [mail] = smtp_messages(sandbox_env)
    assert mail["rcpt_tos"] == ["oncall@x.invalid", "team@x.invalid"]


def test_a_wrong_password_warns_and_never_shows_the_password(sandbox_env):
    log = Log()
    wrong = "not-the-password-4711"

    assert not email(sandbox_env, password=wrong).send("s", "b", log)

    assert smtp_messages(sandbox_env) == []
    [warning] = log.warnings
    assert "SMTPAuthenticationError 535" in warning
    assert wrong not in warning and sandbox_env["SMTP_PASSWORD"] not in warning


def test_a_certificate_no_known_authority_signed_is_refused(sandbox_env):
    log = Log()

    assert not email(sandbox_env, ca_file="").send("s", "b", log)

    assert smtp_messages(sandbox_env) == []
    assert "CERTIFICATE_VERIFY_FAILED" in log.warnings[0]


def test_plain_smtp_to_a_server_that_requires_starttls_is_refused(sandbox_env):
    log = Log()

    assert not email(sandbox_env, tls="none").send("s", "b", log)

    assert smtp_messages(sandbox_env) == []
    assert "did not take" in log.warnings[0]


def test_an_unreachable_server_warns_instead_of_raising(sandbox_env):
    log = Log()

    assert not email(sandbox_env, port=free_port(), timeout_seconds=2).send("s", "b", log)

    assert "unreachable" in log.warnings[0]


def test_an_unknown_tls_mode_is_refused_naming_the_choices(sandbox_env):
    with pytest.raises(ValidationError, match="must be one of starttls, none, got 'ssl'"):
        email(sandbox_env, tls="ssl")
