"""The ``[oversight]`` and ``[notify]`` sections of ``countersign.toml`` (validated with the rest in :mod:`config`).

Secrets never sit in the file: it names the environment variables that hold them (``username_env``,
``password_env``, ``secret_env``), and the CLI or the portal reads those variables at the edge and passes the
values down (:class:`NotifySecrets`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from core.credentials import credential_problem
from core.structs import FieldError, Meta, Record, Row, field

# What a notification is about; each kind has a default route (the role that must act).
EVENT_KINDS = ("request_pending", "decision_made", "review_due", "review_overdue", "unapproved_serving",
               "gate_breach", "cumulative_change", "sync_failing", "incident_deadline", "fallback_review_overdue")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


Seconds = Annotated[float, Meta(gt=0, le=300)]


def _env_names(record: Record, *names: str) -> None:
    for name in names:
        value = getattr(record, name)
        if value is not None and not _ENV_NAME.match(value):
            raise FieldError(name, f"{value!r} is not an environment variable name (letters, digits, underscore)")


class OversightConfig(Record):
    """Which deployed versions are periodically reviewed, and when a review counts as due."""

    # environments whose serving versions need periodic review; empty = the last of [environments].order
    environments: tuple[str, ...] = ()
    # a review is "due" this many days before its due date (and "overdue" after it)
    due_soon_days: Annotated[int, Meta(ge=0, le=366)] = 14


class EmailConfig(Record):
    """SMTP submission: STARTTLS by default; credentials from the environment."""

    host: Annotated[str, Meta(min_length=1)]
    sender: Annotated[str, Meta(min_length=3)]
    port: Annotated[int, Meta(ge=1, le=65535)] = 587
    starttls: bool = True
    username_env: str | None = None
    password_env: str | None = None
    # a PEM bundle trusted for STARTTLS in place of the system store (a private relay's CA)
    ca_file: str | None = None
    timeout_seconds: Seconds = 15.0

    def __post_init__(self) -> None:
        _env_names(self, "username_env", "password_env")
        if (self.username_env or self.password_env) and not self.starttls:
            raise ValueError("notify.email: a login without starttls would send the password in clear; "
                             "set starttls = true")


class WebhookConfig(Record):
    """A JSON POST (Slack-compatible ``text``) signed with HMAC-SHA256 over the body."""

    url: Annotated[str, Meta(pattern=r"^https?://")]
    secret_env: str | None = None
    signature_header: str = "X-Countersign-Signature"
    timeout_seconds: Seconds = 15.0

    def __post_init__(self) -> None:
        _env_names(self, "secret_env")
        problem = credential_problem(self.url, "sign the posts with the secret named by secret_env instead")
        if problem is not None:
            raise FieldError("url", problem)


class RouteConfig(Record):
    """Who hears about one kind of event."""

    roles: tuple[str, ...] | None = None  # None: the default role(s) of the kind (the role that must act)
    owner: bool | None = None  # also the model's owner (None: the kind's default)
    emails: tuple[str, ...] = ()  # extra addresses (a team list)
    webhook: bool = True  # also post to [notify.webhook] when configured
    enabled: bool = True


class NotifyConfig(Record):
    """Notification channels, routing and de-duplication."""

    email: EmailConfig | None = None
    webhook: WebhookConfig | None = None
    routes: dict[str, RouteConfig] = field(default_factory=dict)
    # model owner -> extra addresses told about that owner's models (a team behind a person)
    owners: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # a reminder about a still-open matter (due review, pending request) goes out again after this many days
    remind_every_days: Annotated[float, Meta(gt=0)] = 7.0
    # decisions younger than this are announced (a first run on an old workspace does not replay history)
    lookback_days: Annotated[float, Meta(gt=0)] = 7.0
    # consecutive failed syncs of an account before its owners are told
    sync_failures: Annotated[int, Meta(ge=1)] = 3
    portal_url: str | None = None  # links in messages

    def __post_init__(self) -> None:
        unknown = sorted(set(self.routes) - set(EVENT_KINDS))
        if unknown:
            raise FieldError("routes", f"unknown event kind {unknown[0]!r} (known: {', '.join(EVENT_KINDS)})")


class NotifySecrets(Row):
    """The values of the environment variables ``[notify]`` names, read at the edge."""

    smtp_username: str | None = None
    smtp_password: str | None = None
    webhook_secret: str | None = None


def read_secrets(config: NotifyConfig, environ: Mapping[str, str]) -> NotifySecrets:
    """The secrets ``config`` names, from ``environ`` (called by the CLI and the portal, never deeper)."""
    get = environ.get
    email, hook = config.email, config.webhook
    return NotifySecrets(
        smtp_username=get(email.username_env) if email and email.username_env else None,
        smtp_password=get(email.password_env) if email and email.password_env else None,
        webhook_secret=get(hook.secret_env) if hook and hook.secret_env else None,
    )
