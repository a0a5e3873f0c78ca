"""Real servers on 127.0.0.1 for the release pipeline's demo and tests.

with Stack(Path(".sandbox")) as stack:
    env = stack.env()  # DOCKER_HOST, REGISTRY_URL, ... (see docs/contracts.md)
"""

from ._common import SandboxError, ServerError
from .slack import slack_control, slack_messages, slack_reset
from .smtp import smtp_messages, smtp_reset
from .stack import Stack

__all__ = [
    "SandboxError",
    "ServerError",
    "Stack",
    "slack_control",
    "slack_messages",
    "slack_reset",
    "smtp_messages",
    "smtp_reset",
]
