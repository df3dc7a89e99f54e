"""countersign.toml: one clear message naming the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from governance.config import Workspace, load_settings, resolve_workspace

GOOD = """
[environments]
order = ["dev", "staging", "prod"]

[[accounts]]
name = "lab"
environment = "dev"
connector = "folder"
path = "registry/lab"

[[accounts]]
name = "ml-prod"
environment = "prod"
connector = "sagemaker"
region = "eu-west-1"
role_arn = "arn:aws:iam::333333333333:role/CountersignReader"

[roles]
"risk.officer@bank.example" = ["risk_officer"]
"group:validators" = ["risk_officer", "auditor"]

[policy.tiers.high]
approvals_required = 2
max_drift_share = 0.3
min_disparate_impact = 0.8
min_metrics = { auc = 0.75 }

[policy.tiers.medium]
"""


def write(tmp_path: Path, text: str) -> Workspace:
    ws = Workspace(tmp_path)
    ws.config_path.write_text(text, encoding="utf-8")
    return ws


def test_good_config_parses_into_settings(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    assert [a.name for a in settings.accounts] == ["lab", "ml-prod"]
    assert settings.tier("high").approvals_required == 2
    assert settings.tier("high").min_metrics == {"auc": 0.75}
    assert settings.tier("unknown").approvals_required == 1  # falls back to the default tier
    assert settings.roles_for("Risk.Officer@bank.example") == {"risk_officer"}
    assert settings.roles_for("someone@bank.example", ("validators",)) == {"risk_officer", "auditor"}
    assert settings.roles_for("nobody@bank.example") == frozenset()


BAD = [
    ("syntax", 'accounts = [\n', "TOML syntax error"),
    ("unknown connector", '[[accounts]]\nname="a"\nenvironment="dev"\nconnector="mlflowx"\n',
     # every registered kind is listed; a new connector adds itself at the end
     "accounts[0]: unknown connector 'mlflowx' (known: folder, sagemaker"),
    ("duplicate account",
     '[[accounts]]\nname="a"\nenvironment="dev"\nconnector="folder"\npath="x"\n'
     '[[accounts]]\nname="a"\nenvironment="prod"\nconnector="folder"\npath="y"\n',
     "accounts[1].name: duplicate account name 'a'"),
    ("environment not in order", '[[accounts]]\nname="a"\nenvironment="qa"\nconnector="folder"\npath="x"\n',
     "accounts[0].environment: 'qa' is not in [environments].order ['dev', 'staging', 'prod']"),
    ("missing required key", '[[accounts]]\nname="a"\nconnector="folder"\npath="x"\n',
     "accounts[0].environment: required key is missing"),
    ("folder without path", '[[accounts]]\nname="a"\nenvironment="dev"\nconnector="folder"\n',
     "accounts[0].path: a folder account needs 'path'"),
    ("typo key", '[[accounts]]\nname="a"\nenvironment="dev"\nconnector="folder"\npath="x"\nregoin="eu"\n',
     "accounts[0].regoin: unknown key (check the spelling)"),
    ("unknown role", '[roles]\n"a@b.c" = ["approver"]\n', "roles.a@b.c: unknown role 'approver'"),
    ("wrong type", '[policy.tiers.medium]\napprovals_required = "two"\n',
     "policy.tiers.medium.approvals_required: expected a whole number, got text"),
    ("out of range", '[policy.tiers.medium]\napprovals_required = 0\n',
     "policy.tiers.medium.approvals_required: must be at least 1"),
    ("bad value inside a named tier", '[policy.tiers.high]\nallow_skip = ["dev"]\n[policy]\ndefault_tier = "high"\n',
     "policy.tiers.high.allow_skip: allow_skip entry 'dev' must read"),
    ("label environment not in order",
     '[[accounts]]\nname="ml"\nenvironment="dev"\nconnector="mlflow"\ntracking_uri="http://127.0.0.1:5000"\n'
     'alias_environments = { champion = "production" }\n',
     "accounts[0]: account 'ml' maps registry labels to 'production', which is not in [environments].order"),
    ("stage environment not in order",
     '[[accounts]]\nname="zen"\nenvironment="dev"\nconnector="zenml"\nurl="http://127.0.0.1:8080"\n'
     'api_key_env="ZENML_KEY"\nstage_environments = { production = "live" }\n',
     "accounts[0]: account 'zen' maps registry labels to 'live', which is not in [environments].order"),
    ("repeated environments", '[environments]\norder = ["dev", "dev"]\n', "environments.order: environments repeat"),
    # issue 34, finding 3: one URL-credential rule, for every connector kind and the catalog; the key to use instead
    ("zenml url with a password",
     '[[accounts]]\nname="zen"\nenvironment="dev"\nconnector="zenml"\nurl="http://svc:SECRET-1@127.0.0.1:8080"\n'
     'api_key_env="ZENML_KEY"\n',
     "accounts[0].url: the URL carries a password: credentials never go into countersign.toml; put them in the "
     "environment variable named by api_key_env (account 'zen')"),
    ("zenml url with a token as user name",
     '[[accounts]]\nname="zen"\nenvironment="dev"\nconnector="zenml"\nurl="https://ZENKEY-SECRET@zen.example"\n'
     'api_key_env="ZENML_KEY"\n', "accounts[0].url: the URL carries a user name"),
    ("mlflow url with a password",
     '[[accounts]]\nname="ml"\nenvironment="dev"\nconnector="mlflow"\ntracking_uri="http://u:SECRET-2@127.0.0.1:5000"\n',
     "accounts[0].tracking_uri: the URL carries a password: credentials never go into countersign.toml; put them "
     "in the environment variable named by token_env, username_env or password_env"),
    ("mlflow url with a token parameter",
     '[[accounts]]\nname="ml"\nenvironment="dev"\nconnector="mlflow"\n'
     'tracking_uri="https://mlflow.example/?token=SECRET-3"\n',
     "accounts[0].tracking_uri: the URL carries a 'token' query parameter"),
    ("folder path as a URL with a password",
     '[[accounts]]\nname="lab"\nenvironment="dev"\nconnector="folder"\npath="sftp://u:SECRET-4@nas/registry"\n',
     "accounts[0].path: the URL carries a password: credentials never go into countersign.toml"),
    ("catalog url with a password", '[catalog]\nurl = "postgresql://cs:SECRET-5@db.example/countersign"\n',
     "catalog.url: the URL carries a password: credentials never go into countersign.toml; put the password in "
     "PGPASSWORD or ~/.pgpass"),
    ("webhook url with a password", '[notify.webhook]\nurl = "https://hook:SECRET-6@hooks.example/x"\n',
     "notify.webhook.url: the URL carries a password"),
    # issue 34, finding 10: a header anyone can send is trusted only from the proxy's addresses
    ("trusted headers without trusted proxies", '[auth]\ntrusted_headers = true\n',
     "auth.trusted_proxies: trusted_headers = true needs trusted_proxies"),
    ("trusted proxy that is no address", '[auth]\ntrusted_headers = true\ntrusted_proxies = ["proxy.local"]\n',
     "auth.trusted_proxies: 'proxy.local' is not an IP address or CIDR network"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_file_key_and_problem(tmp_path: Path, case: str, text: str, message: str) -> None:
    ws = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(ws)
    text_of = str(err.value)
    assert text_of.startswith(str(ws.config_path)), text_of
    assert message in text_of
    assert "SECRET" not in text_of  # the refusal never repeats the credential it refuses
    assert "\n" not in text_of.strip() or case == "syntax"


def test_trusted_proxies_are_networks(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD + '[auth]\ntrusted_headers = true\n'
                                              'trusted_proxies = ["10.0.0.5", "127.0.0.1/32", "fd00::/8"]\n'))
    assert settings.auth.trusted_proxies == ("10.0.0.5/32", "127.0.0.1/32", "fd00::/8")
    assert settings.auth.trusts_peer("10.0.0.5") and settings.auth.trusts_peer("127.0.0.1")
    assert settings.auth.trusts_peer("fd00::1")
    assert not settings.auth.trusts_peer("10.0.0.6") and not settings.auth.trusts_peer(None)
    assert not settings.auth.trusts_peer("not an address")


def test_missing_config_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="countersign demo --workspace"):
        load_settings(Workspace(tmp_path))


def test_workspace_resolution_order(tmp_path: Path) -> None:
    assert resolve_workspace(tmp_path / "a", {"COUNTERSIGN_WORKSPACE": str(tmp_path / "b")}).root == tmp_path / "a"
    assert resolve_workspace(None, {"COUNTERSIGN_WORKSPACE": str(tmp_path / "b")}).root == tmp_path / "b"
    assert resolve_workspace(None, {}).root == Path("workspace").resolve()


def test_validating_a_config_loads_no_connector_client_library(tmp_path: Path) -> None:
    # the registry names each kind's settings model apart from its connector: reading countersign.toml (even with a
    # sagemaker account) imports no boto3 or botocore
    import subprocess
    import sys

    write(tmp_path, GOOD)
    code = (
        "import sys\nfrom pathlib import Path\nfrom governance.config import Workspace, load_settings\n"
        f"s = load_settings(Workspace(Path({str(tmp_path)!r})))\n"
        "assert s.account('ml-prod').settings.region == 'eu-west-1'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
