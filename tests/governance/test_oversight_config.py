"""[oversight] and [notify] in countersign.toml: one clear message naming the key and the problem."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from governance.config import parse_settings
from governance.oversight_settings import NotifyConfig, read_secrets

EMAIL = {"host": "smtp.bank.example", "sender": "cs@bank.example"}


@pytest.mark.parametrize(("doc", "message"), [
    ({"oversight": {"environments": ["qa"]}}, "oversight.environments: 'qa' is not in [environments].order"),
    ({"notify": {"routes": {"review_late": {}}}}, "unknown event kind 'review_late'"),
    ({"notify": {"routes": {"review_due": {"roles": ["boss"]}}}}, "notify.routes.review_due.roles: unknown role 'boss'"),
    ({"notify": {"email": {**EMAIL, "password_env": "MY-PASSWORD"}}}, "not an environment variable name"),
    ({"notify": {"email": {"host": "smtp.bank.example"}}}, "notify.email.sender: required key is missing"),
    ({"notify": {"webhook": {"url": "ftp://hooks.example"}}}, "notify.webhook.url"),
    ({"notify": {"email": {**EMAIL, "pasword_env": "X"}}}, "notify.email.pasword_env: unknown key"),
    ({"notify": {"email": {**EMAIL, "starttls": False, "password_env": "P"}}}, "would send the password in clear"),
])
def test_bad_settings_are_refused_with_the_key(doc, message) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(doc)
    assert message in str(err.value)


def test_good_settings_and_secrets_read_at_the_edge() -> None:
    s = parse_settings({"oversight": {"due_soon_days": 7},
                        "notify": {"email": {**EMAIL, "username_env": "U", "password_env": "P"},
                                   "webhook": {"url": "https://hooks.example/x", "secret_env": "H"},
                                   "routes": {"gate_breach": {"roles": ["risk_officer"], "owner": False}}}})
    assert s.oversight.due_soon_days == 7 and s.notify.email.port == 587 and s.notify.email.starttls
    secrets = read_secrets(s.notify, {"U": "user", "P": "pw", "H": "hook"})
    assert (secrets.smtp_username, secrets.smtp_password, secrets.webhook_secret) == ("user", "pw", "hook")
    assert read_secrets(NotifyConfig(), {"U": "user"}).smtp_username is None  # nothing named, nothing read
