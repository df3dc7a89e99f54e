"""The ``[oversight]`` and ``[notify]`` sections of ``countersign.toml`` (validated with the rest in :mod:`config`).

Secrets never sit in the file: it names the environment variables that hold them (``username_env``,
``password_env``, ``secret_env``), and the CLI or the portal reads those variables at the edge and passes the
values down (:class:`NotifySecrets`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.credentials import credential_problem

# What a notification is about; each kind has a default route (the role that must act).
EVENT_KINDS = ("request_pending", "decision_made", "review_due", "review_overdue", "unapproved_serving",
               "gate_breach", "cumulative_change", "sync_failing", "incident_deadline", "fallback_review_overdue")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _env_name(value: str | None) -> str | None:
    if value is not None and not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name (letters, digits, underscore)")
    return value


class OversightConfig(_Strict):
    """Which deployed versions are periodically reviewed, and when a review counts as due."""

    # environments whose serving versions need periodic review; empty = the last of [environments].order
    environments: tuple[str, ...] = ()
    # a review is "due" this many days before its due date (and "overdue" after it)
    due_soon_days: int = Field(default=14, ge=0, le=366)


class EmailConfig(_Strict):
    """SMTP submission: STARTTLS by default; credentials from the environment."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    sender: str = Field(min_length=3)
    starttls: bool = True
    username_env: str | None = None
    password_env: str | None = None
    # a PEM bundle trusted for STARTTLS in place of the system store (a private relay's CA)
    ca_file: str | None = None
    timeout_seconds: float = Field(default=15.0, gt=0, le=300)

    @field_validator("username_env", "password_env")
    @classmethod
    def _names(cls, v: str | None) -> str | None:
        return _env_name(v)

    @model_validator(mode="after")
    def _no_login_in_clear(self) -> EmailConfig:
        if (self.username_env or self.password_env) and not self.starttls:
            raise ValueError("notify.email: a login without starttls would send the password in clear; "
                             "set starttls = true")
        return self


class WebhookConfig(_Strict):
    """A JSON POST (Slack-compatible ``text``) signed with HMAC-SHA256 over the body."""

    url: str = Field(pattern=r"^https?://")
    secret_env: str | None = None
    signature_header: str = "X-Countersign-Signature"
    timeout_seconds: float = Field(default=15.0, gt=0, le=300)

    @field_validator("secret_env")
    @classmethod
    def _names(cls, v: str | None) -> str | None:
        return _env_name(v)

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, v: str) -> str:
        problem = credential_problem(v, "sign the posts with the secret named by secret_env instead")
        if problem is not None:
            raise ValueError(problem)
        return v


class RouteConfig(_Strict):
    """Who hears about one kind of event."""

    roles: tuple[str, ...] | None = None  # None: the default role(s) of the kind (the role that must act)
    owner: bool | None = None  # also the model's owner (None: the kind's default)
    emails: tuple[str, ...] = ()  # extra addresses (a team list)
    webhook: bool = True  # also post to [notify.webhook] when configured
    enabled: bool = True


class NotifyConfig(_Strict):
    """Notification channels, routing and de-duplication."""

    email: EmailConfig | None = None
    webhook: WebhookConfig | None = None
    routes: dict[str, RouteConfig] = Field(default_factory=dict)
    # model owner -> extra addresses told about that owner's models (a team behind a person)
    owners: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # a reminder about a still-open matter (due review, pending request) goes out again after this many days
    remind_every_days: float = Field(default=7.0, gt=0)
    # decisions younger than this are announced (a first run on an old workspace does not replay history)
    lookback_days: float = Field(default=7.0, gt=0)
    # consecutive failed syncs of an account before its owners are told
    sync_failures: int = Field(default=3, ge=1)
    portal_url: str | None = None  # links in messages

    @field_validator("routes")
    @classmethod
    def _known_kinds(cls, v: dict[str, RouteConfig]) -> dict[str, RouteConfig]:
        unknown = sorted(set(v) - set(EVENT_KINDS))
        if unknown:
            raise ValueError(f"unknown event kind {unknown[0]!r} (known: {', '.join(EVENT_KINDS)})")
        return v


@dataclass(frozen=True)
class NotifySecrets:
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
