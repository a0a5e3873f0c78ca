"""Email through SMTP: alerts that never fail a release."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import dagster as dg
from pydantic import Field, field_validator

SMTP_TIMEOUT_SECONDS = 10.0
TLS_MODES = ("starttls", "none")


class EmailResource(dg.ConfigurableResource):
    """Sends plain-text mail with smtplib: STARTTLS when asked, a login when a user is set.

    Example:
        ``email.send("backend 42 breached cpu_usage", body, log=context.log)``
    """

    host: str = Field(description="SMTP server (a relay, or a receiver on loopback in tests).")
    port: int = Field(default=587, description="SMTP port: 587 for submission with STARTTLS.")
    sender: str = Field(description="From address.")
    recipients: str = Field(description="To addresses, separated by commas.")
    username: str = Field(default="", description="Login name; empty means no login.")
    password: str = Field(default="", description="Login password; bind it with EnvVar.")
    tls: str = Field(
        default="starttls",
        description="'starttls': upgrade before the login (the default); 'none': plain SMTP.",
    )
    ca_file: str = Field(
        default="", description="CA bundle to check the server's certificate; empty: the system's."
    )
    timeout_seconds: float = Field(default=SMTP_TIMEOUT_SECONDS, description="Per connection.")

    @field_validator("tls", mode="before")
    @classmethod
    def _known_tls(cls, value: str) -> str:
        # An EnvVar is checked once it is resolved, when a run initialises the resource.
        if not isinstance(value, dg.EnvVar) and value not in TLS_MODES:
            raise ValueError(f"SMTP tls must be one of {', '.join(TLS_MODES)}, got {value!r}")
        return value

    def send(self, subject: str, body: str, log: dg.DagsterLogManager) -> bool:
        """Sends one message; on failure logs a warning and returns False instead of raising."""
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.sender
        message["To"] = ", ".join(self._recipients())
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(body)
        where = f"{self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
                if self.tls == "starttls":
                    smtp.starttls(context=self._tls_context())
                if self.username:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(message)
        except smtplib.SMTPException as exc:
            # The server's reply, never our credentials: smtplib does not echo them.
            reason = f"{type(exc).__name__} {getattr(exc, 'smtp_code', '')}".strip()
            log.warning(f"SMTP server {where} did not take {subject!r}: {reason}")
            return False
        except (OSError, ssl.SSLError) as exc:
            log.warning(f"SMTP server {where} unreachable, {subject!r} not sent: {exc}")
            return False
        if refused:
            log.warning(f"SMTP server {where} refused some recipients: {sorted(refused)}")
        return len(refused) < len(self._recipients())

    def _recipients(self) -> list[str]:
        return [address.strip() for address in self.recipients.split(",") if address.strip()]

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file or None)
