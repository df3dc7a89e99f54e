"""Who is using the portal: OIDC via ``st.login``, trusted proxy headers (only when enabled), or the demo personas.

Returns an :class:`Identity` or ``None``; when ``None`` it has already drawn what the visitor should see
(a sign-in button, a no-role notice, or how to configure sign-in), and the app shows no data.
"""

from __future__ import annotations

import streamlit as st

from governance.config import Settings
from governance.identity import Identity, identity_for
from governance.usecases.session import persona_labels
from portal.text import code, inert

# the e-mail the demo session acts as: app state no widget owns, so no page switch can reset it (a widget's state
# is dropped when st.switch_page moves to another page); the sidebar picker only changes it
PERSONA_KEY = "cs.persona"
PICKER_KEY = "cs.persona.picker"


def oidc_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` has an ``[auth]`` section for ``st.login``."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _groups(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(g.strip() for g in value.split(",") if g.strip())
    if isinstance(value, list | tuple):
        return tuple(str(g) for g in value)
    return ()


def _peer() -> str | None:
    """The address this session's WebSocket connection comes from, as the server saw it (None when unknown).

    Not ``st.context.ip_address``, which reports a loopback peer as None (unknown and loopback must differ here).
    Streamlit's server (uvicorn) replaces the peer by the ``X-Forwarded-For`` address only for connections from
    ``FORWARDED_ALLOW_IPS`` (default loopback); see docs/auth.md.
    """
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return None
    client = runtime.get_instance().get_client(ctx.session_id)
    ip = getattr(getattr(client, "client_context", None), "remote_ip", None)
    return ip if isinstance(ip, str) else None  # AppTest's runtime is a stand-in object


def _no_role(identity: Identity) -> None:
    st.title("No access yet")
    st.warning(
        f"You are signed in as **{inert(identity.email)}**, but this workspace grants that account no role. "
        "Ask an administrator to add you under `[roles]` in `countersign.toml`."
    )


def _picked() -> None:
    """on_change of the persona picker: the session now acts as the persona picked."""
    st.session_state[PERSONA_KEY] = st.session_state[PICKER_KEY]


def _persona_switcher(settings: Settings) -> Identity | None:
    labels = persona_labels(settings)  # personas, not command-line users
    emails = list(labels)
    if not emails:
        return None
    st.sidebar.markdown(":orange-badge[DEMO] Demo workspace: switch persona freely, no sign-in.")
    email = st.session_state.get(PERSONA_KEY)
    if email not in emails:
        # a new session: the persona the link names (?as=, written below, so a reload or a copied link keeps
        # acting as the same person), else the first; afterwards only the picker changes it, never the URL
        asked = st.query_params.get("as")
        email = asked if asked in emails else emails[0]
        st.session_state[PERSONA_KEY] = email
    st.session_state[PICKER_KEY] = email  # the picker shows who acts, whatever happened to its widget state
    st.sidebar.selectbox("Acting as", emails, format_func=lambda e: labels[e], key=PICKER_KEY, on_change=_picked)
    if st.query_params.get("as") != email:
        st.query_params["as"] = email
    return identity_for(settings, email, name=labels[email], source="demo")


def resolve_identity(settings: Settings) -> Identity | None:
    """The signed-in identity, or None after drawing the sign-in / configuration screen."""
    if oidc_configured():
        if not st.user.get("is_logged_in", False):
            st.title(settings.workspace.name)
            st.write("Sign in to see the model inventory, reviews and approvals.")
            st.button("Sign in", on_click=st.login, type="primary", key="cs.login")
            return None
        email = str(st.user.get("email") or "")
        identity = identity_for(
            settings, email, name=st.user.get("name"), groups=_groups(st.user.get(settings.auth.groups_claim)),
            source="oidc",
        )
        st.sidebar.button("Sign out", on_click=st.logout, key="cs.logout")
        if not identity.roles:
            _no_role(identity)
            return None
        return identity
    if settings.auth.trusted_headers:
        peer = _peer()
        if not settings.auth.trusts_peer(peer):
            st.title("Access refused")
            st.error(f"This portal learns who you are from its proxy, and this connection comes from "
                     f"{inert(peer or 'an unknown address')}, which is not one of `[auth] trusted_proxies`. Open the portal "
                     "through its proxy, or ask an administrator to add the proxy's address.")
            return None
        headers = st.context.headers
        email = headers.get(settings.auth.email_header)
        if email:
            groups = _groups(headers.get(settings.auth.groups_header)) if settings.auth.groups_header else ()
            identity = identity_for(settings, email, groups=groups, source="header")
            if not identity.roles:
                _no_role(identity)
                return None
            return identity
        if not settings.workspace.demo:
            st.title("Not signed in")
            st.error(f"Trusted-header sign-in is on, but the request carried no {code(settings.auth.email_header)} "
                     "header.")
            return None
    if settings.workspace.demo:
        return _persona_switcher(settings)
    st.title("Sign-in is not configured")
    st.markdown(
        """
Countersign shows nothing until it knows who you are. Choose one:

1. **OpenID Connect** (Okta, Entra ID, Cognito, Google…): add an `[auth]` section to `.streamlit/secrets.toml`
   (see `docs/auth.md`), then restart the portal.
2. **A trusted reverse proxy** that authenticates users and sets a header: set `[auth] trusted_headers = true`
   and `email_header` in `countersign.toml`. Only do this when the proxy strips that header from clients.
3. **Just looking?** Run `countersign demo --workspace workspace` and open the demo workspace.
"""
    )
    return None
