"""Credentials stay out of configuration and out of everything Countersign writes.

One rule for every URL in ``countersign.toml`` (connector settings of any kind, ``[catalog] url``, webhooks): a URL
never carries a credential — no ``user:password@``, no token as the user name, no ``?token=`` — because settings are
recorded (the ``accounts`` table, ledger entries, audit packs, printed sync results) and a ledger keeps what it
records forever. Credentials come from the environment (or the files a kind reads, such as ``~/.pgpass``), named by
a settings key. :func:`redact` is the second line: it takes known secret values and credential-looking URL parts
out of any message before it is printed, logged or stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

# query parameters that carry a credential in the URL of an HTTP API or a database
CREDENTIAL_PARAMETERS = frozenset({
    "password", "passwd", "pwd", "pass", "token", "access_token", "auth_token", "id_token", "api_key", "apikey",
    "api-key", "secret", "client_secret", "sslpassword",
})
# the user-info of a URL inside any text: scheme://[user[:password]]@
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@\s]+)@")
_SHORTEST_SECRET = 4  # shorter values (a "1", a "true") would redact ordinary words


def url_credentials(url: str, *, user_allowed: bool = False) -> str | None:
    """What credential ``url`` carries, in words ("a password", "a user name", "a 'token' query parameter"), or None.

    ``user_allowed`` accepts a bare user name (``postgresql://countersign@db/cs``: a role, not a secret); an HTTP
    URL's user name is refused too, since tokens travel there (``https://TOKEN@host``).
    """
    try:
        parts = urlsplit(url.strip())
        password, username = parts.password, parts.username
    except ValueError:  # a malformed port or IPv6 host: not a URL this rule can read, others validate it
        return None
    if not parts.scheme or not parts.netloc:
        return None
    if password is not None:
        return "a password"
    if username and not user_allowed:
        return "a user name (or a token in its place)"
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in CREDENTIAL_PARAMETERS:
            return f"a {name!r} query parameter"
    return None


def credential_problem(url: str, instead: str, *, user_allowed: bool = False) -> str | None:
    """The one-line refusal of a URL that carries a credential (never repeating it), or None.

    ``instead`` says where the credential belongs: ``"put it in the environment variable named by api_key_env"``.
    """
    what = url_credentials(url, user_allowed=user_allowed)
    if what is None:
        return None
    return f"the URL carries {what}: credentials never go into countersign.toml; {instead}"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every value of ``secrets`` and every URL user-info replaced by ``***``."""
    out = _USERINFO.sub(lambda m: f"{m['scheme']}***@", text)
    for secret in sorted({s for s in secrets if s and len(s) >= _SHORTEST_SECRET}, key=len, reverse=True):
        out = out.replace(secret, "***")
    return out
