"""Notifications: tell the people who must act, by e-mail (SMTP, STARTTLS) and by a signed webhook.

What is announced (``EVENT_KINDS``): a request waits for approval; a decision was made; a review is due or overdue;
a serving version fails the binding check (never approved in Countersign, its artifact changed since approval, its
registry status not Approved: :mod:`governance.binding`); drift or bias on new data breaches a gate, or cumulative
change passes the tier's ceiling (each a triggered review, :mod:`governance.triggered`, announced once);
an account's sync keeps failing. :func:`collect_events` reads them from the catalog, :func:`notify` sends them.

Routing (``[notify.routes.KIND]``): by default an event goes to the e-mails that ``[roles]`` gives the role that must
act (:data:`DEFAULT_ROUTES`), to the model's owner where that helps, and to people named by the event itself (the
requester of a decided request). A route may name other roles, extra addresses, or leave the owner or the webhook
out; ``[notify.owners]`` adds a team behind an owner.

De-duplication: every attempt is a row of ``notifications`` (this module owns its SQL). A message already sent for
the same event key, channel and recipient is not sent again; a reminder about a matter still open (a due review, a
pending request) goes out again once ``remind_every_days`` have passed. Failed sends are retried on the next run.
A scheduler runs ``countersign notify`` (docs/oversight.md: cron, a systemd timer, a Kubernetes CronJob).

Transports are one-method classes (:class:`SmtpMailer`, :class:`WebhookPoster`); tests use real local servers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from core.canonical import json_default
from core.clock import utcnow
from core.credentials import redact
from core.errors import ConfigError, CountersignError
from governance import ledger
from governance.binding import Finding, findings
from governance.catalog import Catalog
from governance.config import Settings
from governance.context import Context
from governance.identity import require
from governance.ledger.subjects import parse_subject, request_of, request_subject
from governance.oversight import schedule
from governance.oversight_settings import EVENT_KINDS, EmailConfig, NotifySecrets, RouteConfig, WebhookConfig

# kind -> (roles that must act, whether the model owner hears too)
DEFAULT_ROUTES: dict[str, tuple[tuple[str, ...], bool]] = {
    "request_pending": (("risk_officer",), False),
    "decision_made": (("ml_engineer",), True),  # executes an approval; the requester is added by the event
    "review_due": (("risk_officer",), True),
    "review_overdue": (("risk_officer",), True),
    "unapproved_serving": (("risk_officer",), True),
    "gate_breach": (("risk_officer",), True),
    "cumulative_change": (("risk_officer",), True),
    "sync_failing": (("ml_engineer", "admin"), False),
    "incident_deadline": (("risk_officer",), True),  # a reporting deadline of an open incident passed
    "fallback_review_overdue": (("risk_officer",), True),  # an emergency fallback not reviewed after the fact
}
assert set(DEFAULT_ROUTES) == set(EVENT_KINDS)
DECISION_ACTIONS = ("request.approve", "request.reject", "request.accept_risk", "review.periodic")


@dataclass(frozen=True)
class Event:
    """Something somebody must hear about."""

    kind: str
    key: str  # de-duplication key: the same matter has the same key on every run
    subject: str  # request:ID, version:ID, account:NAME
    title: str
    text: str
    model: str | None = None
    repeat: bool = False  # reminders repeat every remind_every_days while the matter stays open
    people: tuple[str, ...] = ()  # addresses the event itself names (the requester)
    link: str = ""  # path in the portal, e.g. /oversight
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """One message to one recipient on one channel: sent, skipped (already sent), failed, or planned (dry run)."""

    event_key: str
    kind: str
    channel: str  # email | webhook
    recipient: str
    status: str  # sent | failed | skipped | planned
    title: str
    error: str | None = None


@dataclass(frozen=True)
class NotifyReport:
    """What one run of :func:`notify` did."""

    events: tuple[Event, ...]
    deliveries: tuple[Delivery, ...]
    unrouted: tuple[str, ...] = ()  # event keys nobody could be told about (no channel or no recipient)

    def by_status(self, status: str) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.status == status)

    @property
    def ok(self) -> bool:
        return not self.by_status("failed")

    @property
    def unapproved(self) -> tuple[Event, ...]:
        """The binding check's findings among the events: versions serving unapproved or not as approved."""
        return tuple(e for e in self.events if e.kind == "unapproved_serving")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {"events": [{"kind": e.kind, "key": e.key, "subject": e.subject, "title": e.title} for e in self.events],
                "deliveries": [d.__dict__ for d in self.deliveries], "unrouted": list(self.unrouted),
                "counts": {s: len(self.by_status(s)) for s in ("sent", "failed", "skipped", "planned")}}


# -- transports ---------------------------------------------------------------------------------------------------


class Mailer(Protocol):
    """Sends one plain-text e-mail."""

    def send(self, recipient: str, subject: str, body: str) -> None: ...


class Poster(Protocol):
    """Posts one JSON body to the webhook."""

    def post(self, body: bytes) -> None: ...


class SmtpMailer:
    """SMTP submission with STARTTLS (verified against the system store or ``ca_file``) and optional login."""

    def __init__(self, config: EmailConfig, secrets: NotifySecrets, *, root: Path | None = None) -> None:
        self.config = config
        self.username, self.password = secrets.smtp_username, secrets.smtp_password
        ca = Path(config.ca_file) if config.ca_file else None
        self.ca_file = (root / ca if root is not None and ca is not None and not ca.is_absolute() else ca)

    def send(self, recipient: str, subject: str, body: str) -> None:
        """Deliver one message (a connection per message: one bad address cannot spoil the others)."""
        c = self.config
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = c.sender, recipient, subject
        msg.set_content(body)
        with smtplib.SMTP(c.host, c.port, timeout=c.timeout_seconds) as smtp:
            smtp.ehlo()
            if c.starttls:
                context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(msg)


def signature(secret: str, body: bytes) -> str:
    """The signature header value of ``body``: ``sha256=`` and the hex HMAC-SHA256 with ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret`` (for receivers; constant time)."""
    return bool(header) and hmac.compare_digest(signature(secret, body), str(header))


class WebhookPoster:
    """POSTs JSON to the configured URL, signed with HMAC-SHA256 over the exact body bytes when a secret is set."""

    def __init__(self, config: WebhookConfig, secrets: NotifySecrets) -> None:
        self.config = config
        self.secret = secrets.webhook_secret

    def post(self, body: bytes) -> None:
        """Send ``body``; an HTTP status outside 2xx raises."""
        headers = {"Content-Type": "application/json", "User-Agent": "countersign-notify"}
        if self.secret:
            headers[self.config.signature_header] = signature(self.secret, body)
        request = urllib.request.Request(self.config.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.config.timeout_seconds) as response:  # http(s) only (validated)
            if not 200 <= response.status < 300:
                raise OSError(f"webhook answered HTTP {response.status}")


def transports(settings: Settings, secrets: NotifySecrets, *, root: Path | None = None
               ) -> tuple[SmtpMailer | None, WebhookPoster | None]:
    """The configured transports; a secret the file names but the environment lacks is a clear ConfigError."""
    n = settings.notify
    if n.email is not None:
        for key, value in (("username_env", secrets.smtp_username), ("password_env", secrets.smtp_password)):
            name = getattr(n.email, key)
            if name and not value:
                raise ConfigError(f"notify.email.{key} names {name}, which is not set in the environment")
    if n.webhook is not None and n.webhook.secret_env and not secrets.webhook_secret:
        raise ConfigError(f"notify.webhook.secret_env names {n.webhook.secret_env}, which is not set in the environment")
    return (SmtpMailer(n.email, secrets, root=root) if n.email else None,
            WebhookPoster(n.webhook, secrets) if n.webhook else None)


# -- events -------------------------------------------------------------------------------------------------------


def _day(value: dt.datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value else "—"


def collect_events(ctx: Context, *, now: dt.datetime | None = None) -> list[Event]:
    """Every matter someone should hear about now, each with a stable key (``ctx``'s identity needs "view")."""
    settings, catalog = ctx.settings, ctx.catalog
    require(ctx.identity, "view")
    from governance.promotion import get_request, list_requests

    moment = now or utcnow()
    events: list[Event] = []
    for r in list_requests(catalog, statuses=("pending",)).itertuples():
        events.append(Event(
            "request_pending", f"request_pending:{r.request_id}", request_subject(r.request_id),
            f"Promotion request {r.request_id} waits for approval: {r.version_id} → {r.to_env}",
            f"{r.requester} asks to promote {r.version_id} into {r.to_env} ({r.approvals}/{r.approvals_required} "
            f"approvals so far). Reason: {r.reason}", model=r.model, repeat=True,
            link=f"/requests?request={r.request_id}"))

    since = moment - dt.timedelta(days=settings.notify.lookback_days)
    decided = ledger.listing(catalog, ledger.LedgerFilter(actions=DECISION_ACTIONS, since=since, until=moment))
    for e in decided.sort_values("seq").itertuples():
        payload = json.loads(e.payload) if isinstance(e.payload, str) else dict(e.payload)
        verb = {"request.approve": "approved", "request.reject": "rejected",
                "request.accept_risk": "accepted the risk of failing gates on",
                "review.periodic": f"reviewed ({payload.get('outcome')})"}[e.action]
        people: tuple[str, ...] = ()
        model = None
        what = e.subject
        request_id = request_of(e.subject)
        if request_id is not None:
            try:
                req = get_request(catalog, request_id)
                people, model, what = (req.requester,), req.model, f"request {req.request_id} ({req.version_id} → {req.to_env})"
            except CountersignError:
                pass
        else:
            vid = parse_subject(e.subject)[1]
            model = vid.split(":")[1] if vid.count(":") == 2 else None
            what = vid
        comment = payload.get("comment") or payload.get("justification") or ""
        events.append(Event(
            "decision_made", f"decision:{e.hash}", e.subject, f"{e.actor} {verb} {what}",
            f"{e.actor} {verb} {what} on {e.recorded_at:%Y-%m-%d %H:%M} UTC." + (f" Comment: {comment}" if comment else ""),
            model=model, people=people,
            link=f"/requests?request={request_id}" if request_id is not None else "/oversight"))

    plan = schedule(ctx, now=moment)
    for item in plan.items:
        if item.first_review_now:  # keyed once, not by a due date that moves with every run
            events.append(Event(
                "review_due", f"review_first:{item.version_id}", f"version:{item.version_id}",
                f"First review of {item.version_id} is due now",
                f"{item.version_id} (tier {item.tier}) serves on {item.deployed_on} and was never reviewed nor signed "
                "off through Countersign: nothing vouches for it until a risk officer records its first review.",
                model=item.model, repeat=True, link=f"/oversight?version={item.version_id}"))
        elif item.status in ("due", "overdue"):
            late = item.status == "overdue"
            events.append(Event(
                "review_overdue" if late else "review_due", f"review_{item.status}:{item.version_id}:{_day(item.due_at)}",
                f"version:{item.version_id}",
                f"Periodic review of {item.version_id} {'is overdue' if late else 'is due'} ({_day(item.due_at)})",
                f"{item.version_id} (tier {item.tier}, every {item.review_every_days} days) serves on "
                f"{item.deployed_on}. Last review: {_day(item.last_review_at) if item.last_review_at else 'never'}; "
                f"due {_day(item.due_at)} ({abs(item.days_left or 0)} days {'ago' if late else 'from now'}).",
                model=item.model, repeat=True, link=f"/oversight?version={item.version_id}"))
        for t in item.triggered:  # once per triggered review: the same breach never twice
            what = (f"{t.gate} gate fails on new data for {item.version_id}" if t.kind == "gate_breach"
                    else f"cumulative change of {item.version_id} passes its tier's ceiling")
            cites = f" (evidence {'+'.join(t.evidence)})" if t.evidence else ""
            events.append(Event(
                t.kind, t.breach_key, f"version:{item.version_id}", f"{what}: re-validation due now",
                f"{item.version_id} serving on {item.deployed_on}: {t.reason}{cites}. A re-validation (periodic "
                f"review) of {item.version_id} is due now; triggered review {t.trigger_id} closes when it is recorded.",
                model=item.model, link=f"/oversight?version={item.version_id}", details={"trigger": t.as_dict()}))

    events += [_binding_event(f) for f in findings(settings, catalog)]
    events += lifecycle_events(settings, catalog, moment)

    streak = settings.notify.sync_failures
    for account in settings.accounts:
        runs = catalog.sync_runs(account.name, limit=streak)
        if len(runs) == streak and (runs["status"] == "failed").all():
            first = runs.iloc[-1]
            events.append(Event(
                "sync_failing", f"sync_failing:{account.name}:{first['sync_id']}", f"account:{account.name}",
                f"Sync of account {account.name} failed {streak} times in a row",
                f"The last {streak} syncs of {account.name} ({account.environment}) failed; the newest error: "
                f"{runs.iloc[0]['error']}", repeat=True, link="/accounts"))
    return events


def lifecycle_events(settings: Settings, catalog: Catalog, now: dt.datetime) -> list[Event]:
    """Overdue incident reporting deadlines and emergency fallbacks whose review after the fact is overdue."""
    from governance.fallback import overdue_reviews
    from governance.incidents import overdue_alerts

    out = []
    for inc, d in overdue_alerts(settings, catalog, now):
        out.append(Event(
            "incident_deadline", f"incident_deadline:{inc.incident_id}:{d.rule}", f"incident:{inc.incident_id}",
            f"{d.name} deadline of incident {inc.incident_id} passed on {_day(d.due_at)}",
            f"Incident {inc.incident_id} on {inc.version_id} ({inc.severity}{', serious' if inc.serious else ''}): "
            f"{inc.title}. {d.basis}; due {_day(d.due_at)}, no report recorded. Record it with 'countersign "
            f"incident report {inc.incident_id} --rule {d.rule}'.", model=inc.model, repeat=True,
            link=f"/incidents?incident={inc.incident_id}"))
    for plan, run in overdue_reviews(settings, catalog, now):
        out.append(Event(
            "fallback_review_overdue", f"fallback_review_overdue:{run['event_id']}", f"fallback:{plan.plan_id}",
            f"Emergency fallback of {plan.model} ({run['event_id']}) awaits its review since {_day(run['review_due'])}",
            f"{run['actor']} executed fallback plan {plan.plan_id} ({plan.describe()}) on {_day(run['happened_at'])}"
            f" as an emergency; its review after the fact by another risk officer was due {_day(run['review_due'])}.",
            model=plan.model, repeat=True, link=f"/model?model={plan.model}"))
    return out


def _binding_event(finding: Finding) -> Event:
    """The notification of one serving version the binding check flags (a new problem is a new event key)."""
    f, vid, env = finding.flag, finding.version_id, finding.environment
    if f.artifact_changed:
        title = f"{vid} serves in {env} with an artifact changed since its approval"
        todo = ("Find out who replaced the artifact; restore the approved bytes, or request and approve the new ones "
                "in Countersign.")
    elif f.registry_unapproved and not f.no_signoff:
        title = f"{vid} serves in {env} while its registry status is not Approved"
        todo = "Approve it in the registry through Countersign, or take it out of service."
    else:
        title = f"{vid} serves in {env} without Countersign approval"
        todo = "Request and approve it in Countersign, or take it out of service (move the label back, or stop the endpoint)."
    return Event("unapproved_serving", f"unapproved_serving:{vid}:{env}:{'+'.join(f.problems)}", f"version:{vid}",
                 title, f"{vid} {f.reason}. {todo}", model=finding.model, repeat=True,
                 link=f"/model?version={vid}", details=finding.as_dict())


# -- routing ------------------------------------------------------------------------------------------------------


def _route(settings: Settings, kind: str) -> RouteConfig:
    return settings.notify.routes.get(kind, RouteConfig())


def _emails_of_roles(settings: Settings, roles: Iterable[str]) -> set[str]:
    wanted = set(roles)
    return {who.lower() for who, granted in settings.roles.items()
            if not who.startswith("group:") and "@" in who and wanted & set(granted)}


def _owner(settings: Settings, catalog: Catalog, model: str | None) -> str | None:
    if not model:
        return None
    cfg = settings.models.get(model)
    owner = cfg.owner if cfg and cfg.owner else None
    if owner is None:
        try:
            owner = catalog.model(model).owner
        except CountersignError:
            owner = None
    return owner


def recipients(settings: Settings, catalog: Catalog, event: Event) -> tuple[str, ...]:
    """The e-mail addresses ``event`` goes to under ``[notify.routes]`` (sorted, without repeats)."""
    route = _route(settings, event.kind)
    default_roles, default_owner = DEFAULT_ROUTES[event.kind]
    out = _emails_of_roles(settings, default_roles if route.roles is None else route.roles)
    owner = _owner(settings, catalog, event.model) if (default_owner if route.owner is None else route.owner) else None
    if owner:
        if "@" in owner:
            out.add(owner.lower())
        out.update(a.lower() for a in settings.notify.owners.get(owner, ()))
    out.update(a.lower() for a in (*route.emails, *event.people) if "@" in a)
    return tuple(sorted(out))


# -- sending ------------------------------------------------------------------------------------------------------


def _last_sent(catalog: Catalog) -> dict[tuple[str, str, str], dt.datetime]:
    return catalog.last_notifications_sent()


def _record(catalog: Catalog, deliveries: Sequence[Delivery], subjects: dict[str, str], at: dt.datetime) -> None:
    catalog.insert_notifications([
        {"notification_id": f"N-{uuid.uuid4().hex[:16]}", "event_key": d.event_key, "kind": d.kind,
         "subject": subjects.get(d.event_key), "channel": d.channel, "recipient": d.recipient, "status": d.status,
         "error": d.error, "attempted_at": at, "title": d.title}
        for d in deliveries if d.status in ("sent", "failed")])


def sent_log(catalog: Catalog, *, limit: int = 200) -> list[dict[str, Any]]:
    """The newest notification attempts (sent and failed), newest first."""
    return catalog.notification_log(limit=limit)


def _body(settings: Settings, event: Event) -> str:
    link = f"\n\n{settings.notify.portal_url.rstrip('/')}{event.link}" if settings.notify.portal_url and event.link else ""
    return (f"{event.text}{link}\n\n-- \nCountersign ({settings.workspace.name}). You receive this because "
            f"[notify] in countersign.toml routes '{event.kind}' to you.")


def _webhook_body(settings: Settings, event: Event, at: dt.datetime) -> bytes:
    link = f" <{settings.notify.portal_url.rstrip('/')}{event.link}|open>" if settings.notify.portal_url and event.link \
        else ""
    doc = {"text": f"*{event.title}*\n{event.text}{link}",  # Slack (and Mattermost, Teams workflows) read "text"
           "event": {"kind": event.kind, "key": event.key, "subject": event.subject, "model": event.model,
                     "title": event.title, "details": event.details},
           "workspace": settings.workspace.name, "sent_at": at.isoformat()}
    return json.dumps(doc, sort_keys=True, default=json_default).encode()


def notify(
    ctx: Context,
    *,
    mailer: Mailer | None = None,
    poster: Poster | None = None,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> NotifyReport:
    """Send what is due to be sent (see the module docstring), record every attempt, and report.

    Args:
        ctx: the opened workspace; its identity runs it (needs "notify"; a scheduler runs the CLI as the local
            operator).
        mailer, poster: the transports (:func:`transports` builds them from settings and the environment's
            secrets); None leaves that channel out.
        now: the moment to judge due dates and reminders against.
        dry_run: report what would be sent without sending or recording anything.

    Returns:
        A :class:`NotifyReport`. One failing recipient or channel does not stop the others; its error is recorded
        and it is retried on the next run.
    """
    settings, catalog = ctx.settings, ctx.catalog
    require(ctx.identity, "notify")
    moment = now or utcnow()
    events = collect_events(ctx, now=moment)
    remind = dt.timedelta(days=settings.notify.remind_every_days)
    sent = _last_sent(catalog)
    deliveries: list[Delivery] = []
    unrouted: list[str] = []

    def due(event: Event, channel: str, recipient: str) -> bool:
        last = sent.get((event.key, channel, recipient))
        return last is None or (event.repeat and moment - last >= remind)

    def attempt(event: Event, channel: str, recipient: str, send: Any) -> None:
        if not due(event, channel, recipient):
            deliveries.append(Delivery(event.key, event.kind, channel, recipient, "skipped", event.title))
            return
        if dry_run:
            deliveries.append(Delivery(event.key, event.kind, channel, recipient, "planned", event.title))
            return
        try:
            send()
        except (OSError, smtplib.SMTPException, ssl.SSLError, urllib.error.URLError, ValueError) as exc:
            deliveries.append(Delivery(event.key, event.kind, channel, recipient, "failed", event.title,
                                       redact(f"{type(exc).__name__}: {exc}")))
            return
        deliveries.append(Delivery(event.key, event.kind, channel, recipient, "sent", event.title))

    for event in events:
        route = _route(settings, event.kind)
        if not route.enabled:
            continue
        told = False
        if mailer is not None:
            for address in recipients(settings, catalog, event):
                told = True
                attempt(event, "email", address, lambda a=address, e=event: mailer.send(a, e.title, _body(settings, e)))
        if poster is not None and route.webhook and settings.notify.webhook is not None:
            told = True
            attempt(event, "webhook", settings.notify.webhook.url,
                    lambda e=event: poster.post(_webhook_body(settings, e, moment)))
        if not told:
            unrouted.append(event.key)
    if not dry_run:
        _record(catalog, deliveries, {e.key: e.subject for e in events}, moment)
    return NotifyReport(tuple(events), tuple(deliveries), tuple(unrouted))
