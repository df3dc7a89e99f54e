"""Notifications against real local peers: an SMTP server (STARTTLS, login) and an HTTP receiver checking the HMAC.

The demo workspace supplies the matters: a pending request, an overdue and a due review, a version serving in prod
without Countersign approval. Time is moved forward with ``now=``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import socket
from pathlib import Path

import pytest

from core.errors import ConfigError
from countersign_cli.main import main
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.identity import Identity, identity_for
from governance.notify import notify, sent_log, transports
from governance.oversight import reviews
from governance.oversight_settings import read_secrets
from tests.governance.servers import Inbox, Received, self_signed, start_receiver, start_smtp

D = "demo.countersign.dev"
CREDIT, CLAIMS, REPAIR = "lab-prod:credit-approval:1", "lab-prod:claims-fraud:2", "lab-prod:repair-cost:2"
OFFICERS = {f"risk.officer@{D}", f"validator@{D}"}
CREDIT_OWNER = "retail-credit-risk@lakeside.example"
CLAIMS_OWNER = "claims-analytics@lakeside.example"
SECRET = "s3cret-hook-key"
ENV = {"CS_SMTP_USER": "mailer", "CS_SMTP_PASSWORD": "pa55", "CS_HOOK_SECRET": SECRET}
ADMIN = Identity("scheduler@x", frozenset({"admin"}))


@pytest.fixture
def peers(tmp_path: Path):
    inbox, received = Inbox(), Received()
    smtp = start_smtp(inbox, tls=self_signed(tmp_path), credentials=("mailer", "pa55"))
    http, url = start_receiver(received)
    yield inbox, received, smtp, url, tmp_path / "smtp-cert.pem"
    smtp.stop()
    http.shutdown()


def configure(ws: Workspace, extra: str) -> None:
    with ws.config_path.open("a", encoding="utf-8") as f:
        f.write("\n" + extra)


def channels(port: int, url: str, ca: Path, *, routes: str = "") -> str:
    return f"""
[notify]
portal_url = "https://countersign.bank.example"
remind_every_days = 7
{routes}
[notify.email]
host = "127.0.0.1"
port = {port}
sender = "countersign@bank.example"
starttls = true
username_env = "CS_SMTP_USER"
password_env = "CS_SMTP_PASSWORD"
ca_file = "{ca}"
timeout_seconds = 5

[notify.webhook]
url = "{url}"
secret_env = "CS_HOOK_SECRET"
"""


def run(ws: Workspace, now: dt.datetime, env: dict[str, str] = ENV, **kw):
    settings = load_settings(ws)
    mailer, poster = transports(settings, read_secrets(settings.notify, env), root=ws.root)  # the edge
    return notify(Context(ws, settings, Catalog(ws.catalog_path), ADMIN), mailer=mailer, poster=poster, now=now, **kw)


def built_on(ws: Workspace) -> dt.datetime:
    return reviews(Catalog(ws.catalog_path), version_id=CREDIT)[0].reviewed_at + dt.timedelta(days=100)


def test_email_over_starttls_and_signed_webhook_reach_the_role_that_must_act(demo_copy, peers) -> None:
    inbox, received, smtp, url, ca = peers
    configure(demo_copy, channels(smtp.port, url, ca))
    today = built_on(demo_copy)
    report = run(demo_copy, today)
    assert report.ok and not report.unrouted
    kinds = {e.kind for e in report.events}
    assert kinds == {"request_pending", "review_overdue", "review_due", "unapproved_serving"}
    assert inbox.logins and set(inbox.logins) == {"mailer"}  # logged in, which the server allows only after STARTTLS

    overdue = [m for m in inbox.messages if f"Periodic review of {CREDIT} is overdue" in m[2]]
    assert {r for m in overdue for r in m[1]} == OFFICERS | {CREDIT_OWNER}  # risk officers and the model owner
    due = [m for m in inbox.messages if f"Periodic review of {CLAIMS} is due" in m[2]]
    assert {r for m in due for r in m[1]} == OFFICERS | {CLAIMS_OWNER}
    pending = [m for m in inbox.messages if "waits for approval" in m[2]]
    assert {r for m in pending for r in m[1]} == OFFICERS  # the request queue is the officers' alone
    assert "https://countersign.bank.example/oversight?version=" in overdue[0][2]
    assert not inbox.to(f"auditor@{D}") and not inbox.to(f"data.scientist@{D}")

    assert len(received.posts) == len(report.events)  # one post per event
    for headers, body in received.posts:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()  # independent oracle
        assert headers["X-Countersign-Signature"] == expected
    texts = [d["text"] for d in received.documents()]
    assert any(f"*{REPAIR} serves in prod without Countersign approval*" in t for t in texts)
    assert {d["event"]["kind"] for d in received.documents()} == kinds


def test_reminders_are_not_resent_on_every_run_and_time_brings_new_ones(demo_copy, peers) -> None:
    inbox, received, smtp, url, ca = peers
    configure(demo_copy, channels(smtp.port, url, ca))
    today = built_on(demo_copy)
    first = run(demo_copy, today)
    sent = len(inbox.messages), len(received.posts)
    assert first.by_status("sent") and sent[0] > 0

    again = run(demo_copy, today + dt.timedelta(hours=6))  # the scheduler runs again the same day
    assert not again.by_status("sent") and len(again.by_status("skipped")) == len(first.by_status("sent"))
    assert (len(inbox.messages), len(received.posts)) == sent

    # ten days on: the claims review is overdue now (a new matter), and open matters get their weekly reminder
    later = run(demo_copy, today + dt.timedelta(days=10))
    titles = {d.title for d in later.by_status("sent")}
    assert any(t.startswith(f"Periodic review of {CLAIMS} is overdue") for t in titles)
    assert any(t.startswith(f"Periodic review of {CREDIT} is overdue") for t in titles)  # reminder after 7 days
    log = sent_log(Catalog(demo_copy.catalog_path))
    assert {r["status"] for r in log} == {"sent"} and len(log) == len(inbox.messages) + len(received.posts)


def test_a_refusing_recipient_and_a_dead_server_do_not_stop_the_rest(demo_copy, peers) -> None:
    inbox, received, smtp, url, ca = peers
    inbox.refuse.add(f"validator@{D}")
    configure(demo_copy, channels(smtp.port, url, ca))
    today = built_on(demo_copy)
    report = run(demo_copy, today)
    failed = report.by_status("failed")
    assert failed and {d.recipient for d in failed} == {f"validator@{D}"}
    assert all("550" in (d.error or "") for d in failed)
    assert inbox.to(f"risk.officer@{D}") and len(received.posts) == len(report.events)  # the others were told
    catalog = Catalog(demo_copy.catalog_path)
    errors = [r for r in sent_log(catalog) if r["status"] == "failed"]
    assert {r["recipient"] for r in errors} == {f"validator@{D}"} and all(r["error"] for r in errors)

    inbox.refuse.clear()
    retry = run(demo_copy, today + dt.timedelta(hours=1))  # failed sends are retried, the rest is not resent
    assert {d.recipient for d in retry.by_status("sent")} == {f"validator@{D}"}

    # the mail server is unreachable (nothing listens on its port): e-mail fails (recorded), the webhook carries on
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    text = demo_copy.config_path.read_text().replace(f"port = {smtp.port}", f"port = {dead}")
    demo_copy.config_path.write_text(text)
    received.posts.clear()
    outage = run(demo_copy, today + dt.timedelta(days=8))
    assert outage.by_status("failed") and not outage.ok
    assert all(d.channel == "email" for d in outage.by_status("failed"))
    assert len(received.posts) == len([d for d in outage.by_status("sent") if d.channel == "webhook"]) > 0


def test_routing_per_role_per_owner_and_extra_addresses(demo_copy, peers) -> None:
    _inbox, received, smtp, url, ca = peers
    routes = f"""
[notify.routes.review_overdue]
roles = ["auditor"]
emails = ["mrm-team@bank.example"]
webhook = false
[notify.routes.request_pending]
enabled = false
[notify.owners]
"{CREDIT_OWNER}" = ["credit-validation@bank.example"]
"""
    configure(demo_copy, channels(smtp.port, url, ca, routes=routes))
    report = run(demo_copy, built_on(demo_copy))
    overdue = {d.recipient for d in report.deliveries if d.kind == "review_overdue"}
    assert overdue == {f"auditor@{D}", "mrm-team@bank.example", CREDIT_OWNER, "credit-validation@bank.example"}
    assert "request_pending" not in {d.kind for d in report.deliveries}
    assert "review_overdue" not in {d["event"]["kind"] for d in received.documents()}


def test_decisions_sync_failures_reach_who_must_act(demo_copy, peers) -> None:
    from governance.demo_history import open_request_id
    from governance.promotion import reject

    inbox, _received, smtp, url, ca = peers
    configure(demo_copy, channels(smtp.port, url, ca, routes="sync_failures = 2"))
    settings, catalog = load_settings(demo_copy), Catalog(demo_copy.catalog_path)
    rid = open_request_id(catalog)
    reject(Context(demo_copy, settings, catalog, identity_for(settings, f"risk.officer@{D}", source="cli")), rid,
           "Shadow-mode recall not shown on prod-like data.")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for n in range(3):
        catalog.record_sync_failure(sync_id=f"s{n}", account="lab-dev", started_at=now + dt.timedelta(seconds=n),
                                    error="registry/dev: permission denied", full=False, actor="scheduler")
    report = run(demo_copy, now + dt.timedelta(minutes=1))
    decided = [d for d in report.deliveries if d.kind == "decision_made" and d.channel == "email"]
    # the requester (who is also the role that executes or tries again) and the model's owner
    assert {d.recipient for d in decided} == {f"ml.engineer@{D}", CLAIMS_OWNER}
    assert "rejected" in decided[0].title
    failing = {d.recipient for d in report.deliveries if d.kind == "sync_failing" and d.channel == "email"}
    assert failing == {f"ml.engineer@{D}", f"admin@{D}"}
    assert any("permission denied" in text for text in inbox.texts())


def test_a_secret_the_file_names_but_the_environment_lacks_is_a_clear_error(demo_copy, peers) -> None:
    _, _, smtp, url, ca = peers
    configure(demo_copy, channels(smtp.port, url, ca))
    settings = load_settings(demo_copy)
    with pytest.raises(ConfigError, match="CS_HOOK_SECRET, which is not set"):
        transports(settings, read_secrets(settings.notify, {k: v for k, v in ENV.items() if k != "CS_HOOK_SECRET"}))


def test_cli_notify_dry_run_sends_and_records_nothing(demo_copy, peers, monkeypatch, capsys) -> None:
    inbox, received, smtp, url, ca = peers
    configure(demo_copy, channels(smtp.port, url, ca))
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    # the demo's planted unapproved deployment in prod is a failed check: exit 1, sent or planned
    assert main(["notify", "--workspace", str(demo_copy.root), "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "planned (dry run)" in out and "! lab-prod:repair-cost:2 (prod) serves on endpoint repair-cost-prod" in out
    assert not inbox.messages and not received.posts and not sent_log(Catalog(demo_copy.catalog_path))
    assert main(["notify", "--workspace", str(demo_copy.root)]) == 1
    assert inbox.messages and received.posts


def test_monitoring_on_new_data_that_breaches_a_gate_is_announced_once(demo_copy, peers) -> None:
    from governance.oversight import monitor, schedule

    inbox, _received, smtp, url, ca = peers
    text = demo_copy.config_path.read_text()
    head, medium = text.split("[policy.tiers.medium]", 1)
    # a strict drift limit for the medium tier: the planted drift of claims-fraud v2 (2 columns) now breaches it
    demo_copy.config_path.write_text(head + "[policy.tiers.medium]" + medium.replace("max_drift_share = 0.3",
                                                                                     "max_drift_share = 0.05", 1))
    configure(demo_copy, channels(smtp.port, url, ca))
    settings, catalog = load_settings(demo_copy), Catalog(demo_copy.catalog_path)
    today = built_on(demo_copy)
    assert {i.monitoring_status for i in schedule(Context(catalog.workspace, settings, catalog, ADMIN), now=today).items} == {"never"}
    results = {r.version_id: r for r in monitor(Context(demo_copy, settings, catalog, ADMIN), now=today)}
    assert results[CLAIMS].items["drift"]["status"] == "computed"
    # the share gate made strict here, and the weighted drift gate the demo's medium tier sets
    assert [b["gate"] for b in results[CLAIMS].breaches] == ["drift", "weighted_drift"] and not results[CREDIT].breaches
    plan = {i.version_id: i for i in schedule(Context(catalog.workspace, settings, catalog, ADMIN), now=today).items}
    assert plan[CLAIMS].monitoring_status == "ok"
    later = {i.version_id: i for i in schedule(Context(catalog.workspace, settings, catalog, ADMIN), now=today + dt.timedelta(days=31)).items}
    assert later[CLAIMS].monitoring_status == "overdue"  # medium tier: every 30 days

    report = run(demo_copy, today)
    breach = [d for d in report.deliveries if d.kind == "gate_breach" and d.channel == "email"]
    assert {d.recipient for d in breach} == OFFICERS | {CLAIMS_OWNER}
    assert results[CLAIMS].items["drift"]["evidence_id"] in breach[0].event_key
    assert any("drift gate fails on new data" in t and "claim_amount" in t for t in inbox.texts())
    again = run(demo_copy, today + dt.timedelta(days=30))  # same evidence: not announced again, however long
    assert not [d for d in again.deliveries if d.kind == "gate_breach" and d.status == "sent"]
