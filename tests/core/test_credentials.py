"""The one URL-credential rule and redaction (core.credentials)."""

from __future__ import annotations

import pytest

from core.credentials import credential_problem, redact, url_credentials


@pytest.mark.parametrize(("url", "what"), [
    ("http://svc:SECRET@host", "a password"),
    ("https://TOKEN@zen.example", "a user name (or a token in its place)"),
    ("https://mlflow.example/?token=SECRET", "a 'token' query parameter"),
    ("postgresql://db/cs?password=SECRET", "a 'password' query parameter"),
    ("https://h/x?Api_Key=SECRET", "a 'Api_Key' query parameter"),
    ("http://127.0.0.1:5000", None),
    ("registry/lab", None),  # a path, not a URL
    ("arn:aws:iam::111111111111:role/Reader", None),
    ("http://[::1", None),  # malformed: other validators speak
])
def test_what_a_url_carries(url: str, what: str | None) -> None:
    assert url_credentials(url) == what


def test_a_user_name_is_allowed_where_it_is_a_role_not_a_secret() -> None:
    assert url_credentials("postgresql://countersign@db/cs", user_allowed=True) is None
    assert url_credentials("postgresql://countersign:pw@db/cs", user_allowed=True) == "a password"


def test_the_refusal_says_where_credentials_go_and_never_repeats_them() -> None:
    problem = credential_problem("http://svc:SECRET@host", "put them in the environment variable named by api_key_env")
    assert problem == ("the URL carries a password: credentials never go into countersign.toml; put them in the "
                       "environment variable named by api_key_env")
    assert credential_problem("http://host", "x") is None


def test_redact_removes_known_values_and_any_url_user_info() -> None:
    text = "GET http://svc:pw1@host/x failed; key ZENKEY_abc123 refused; https://tok@h ok; a 1 stays"
    out = redact(text, ["ZENKEY_abc123", "1", ""])
    assert out == "GET http://***@host/x failed; key *** refused; https://***@h ok; a 1 stays"
