"""CLI start-up and ``countersign serve``: commands load heavy libraries only when they run, options that come from
heavy modules still show and validate, ``--version``, and the portal started from the package with Streamlit flags
passed through."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from core.errors import ConfigError
from countersign_cli.commands.serve import portal_script, streamlit_command
from governance import __version__
from governance.config import Workspace
from portal.pages import pages

HEAVY = ("pandas", "numpy", "duckdb", "pydantic", "pyarrow", "scipy", "sklearn", "evidently", "shap", "streamlit",
         "boto3", "reportlab", "cryptography", "fairlearn", "skops")
ANALYTICS_AND_UI = ("scipy", "sklearn", "evidently", "shap", "streamlit", "boto3", "fairlearn", "skops", "reportlab")

PROBE = """
import json, sys, contextlib, io
from countersign_cli.main import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
heavy = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"code": code, "heavy": heavy, "out": out.getvalue()}}))
"""


def probe(*argv: str) -> dict:
    """Run the CLI in a fresh interpreter; report its exit code, output, and which heavy libraries got imported."""
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv], capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["serve", "--help"], ["models", "--help"],
                                  ["ledger", "verify", "--help"]], ids=" ".join)
def test_help_and_version_load_no_heavy_library(argv: list[str]) -> None:
    result = probe(*argv)
    assert result["code"] == 0
    assert result["heavy"] == []


def test_version_is_the_package_version() -> None:
    from importlib.metadata import version

    result = probe("--version")
    assert result["out"].strip() == f"countersign {__version__}"
    assert version("countersign") == __version__  # the wheel's metadata reads the same single source


def test_options_that_come_from_analytics_modules_still_show_and_validate() -> None:
    drift = probe("drift", "--help")
    assert drift["code"] == 0 and "Methods: " in drift["out"] and "bonferroni" in drift["out"]
    explain = probe("explain", "--help")
    assert "--max-rows" in explain["out"] and "--budget" in explain["out"]
    proc = subprocess.run([sys.executable, "-m", "countersign_cli", "drift", "--reference", "a.csv", "--current",
                           "b.csv", "--correction", "none-such"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2 and "invalid choice: 'none-such'" in proc.stderr


def test_models_and_ledger_verify_load_no_analytics_or_ui_library(demo_workspace: Workspace) -> None:
    for argv in (["models", "--json"], ["ledger", "verify"]):
        result = probe(*argv, "--workspace", str(demo_workspace.root))
        assert result["code"] == 0, result
        assert not set(result["heavy"]) & set(ANALYTICS_AND_UI), (argv, result["heavy"])
    assert json.loads(probe("models", "--json", "--workspace", str(demo_workspace.root))["out"])["models"]


def test_models_loads_no_signing_or_analytics_code(demo_workspace: Workspace) -> None:
    """Issue 33: `models --json` reads the catalog; it signs nothing, so the ledger's cryptography and commit path stay
    unloaded (governance.ledger imports a room when a name of it is first used), and no analytics or SQL dialects."""
    code = ("import sys, io, contextlib; from countersign_cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    code = main(['models', '--json', '--workspace', {str(demo_workspace.root)!r}])\n"
            "print(code, sorted(m for m in sys.modules if m.startswith(('cryptography', 'sqlglot', 'psycopg', "
            "'governance.ledger.', 'governance.analytics', 'governance.reports', 'governance.signoff'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "0"
    # the ledger's rooms a listing needs: how subjects are spelled and where the witness is (nothing that signs)
    assert proc.stdout.split(" ", 1)[1].strip() == "['governance.ledger.subjects', 'governance.ledger.witness']"


def test_models_reads_its_configuration_without_a_validation_framework_and_writes_nothing(
        demo_workspace: Workspace) -> None:
    """Issue 33: reading countersign.toml loads no pydantic (its import alone cost ~0.1 s of CPU), no connector module
    (the folder kind's settings live in their own light module) and not connectors.base; and opening a workspace
    whose schema and accounts are current opens no write transaction (a read-only command writes nothing)."""
    code = ("import sys, io, contextlib\n"
            "from governance.catalog.connection import CatalogConnection\n"
            "writes = []\n"
            "real = CatalogConnection.transaction\n"
            "CatalogConnection.transaction = lambda self: (writes.append(1), real(self))[1]\n"
            "from countersign_cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    code = main(['models', '--json', '--workspace', {str(demo_workspace.root)!r}])\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core') or m in "
            "('connectors.base', 'connectors.folder', 'connectors.cache', 'logging'))\n"
            "print(code, len(writes), loaded)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0 0 []", proc.stdout


def test_the_current_listing_reads_plain_rows_without_pandas(demo_workspace: Workspace) -> None:
    listing = probe("models", "--json", "--workspace", str(demo_workspace.root))
    assert listing["code"] == 0 and json.loads(listing["out"])["versions"]
    assert not {"pandas", "numpy", "pyarrow"} & set(listing["heavy"]), listing["heavy"]
    # the as-of listing reads history through pandas and answers in the same shape
    past = probe("models", "--json", "--as-of", "2100-01-01", "--workspace", str(demo_workspace.root))
    assert past["code"] == 0 and "pandas" in past["heavy"]
    now, then = json.loads(listing["out"]), json.loads(past["out"])
    assert set(then) == set(now) | {"as_of", "gaps", "coverage"}
    # a past row also says where its state came from (sync, backfilled event, ...) and how sure that is
    provenance = {"since", "confidence", "changed_by", "change_source"}
    assert [set(v) for v in then["versions"]] == [set(v) | provenance for v in now["versions"]][: len(then["versions"])]


def test_unknown_arguments_are_refused_by_every_command_but_serve(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "countersign_cli", "models", "--workspace", str(tmp_path),
                           "--server.port", "1"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2 and "unrecognized arguments: --server.port 1" in proc.stderr


def test_serve_command_line_runs_the_packaged_app_with_flags_passed_last(tmp_path: Path) -> None:
    app = portal_script()
    assert app.name == "app.py" and all((app.parent / p.path).is_file() for p in pages())
    cmd = streamlit_command(tmp_path, 8600, "0.0.0.0", ["--server.port", "9000", "--theme.base", "dark"])
    assert cmd[:5] == [sys.executable, "-m", "portal.launch", "run", str(app)]
    assert cmd[-3:] == ["--", "--workspace", str(tmp_path)]
    flags = cmd[5:-3]
    assert flags[flags.index("--server.address") + 1] == "0.0.0.0"
    # Streamlit keeps the last value of a repeated flag: what the user passes comes after the defaults
    assert flags.index("--server.port") < len(flags) - 4 and flags[-4:] == ["--server.port", "9000", "--theme.base",
                                                                             "dark"]
    with pytest.raises(ConfigError, match="not a TCP port"):
        streamlit_command(tmp_path, 70000, "127.0.0.1")


def test_serve_refuses_a_folder_without_a_workspace(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "countersign_cli", "serve", "--workspace", str(tmp_path / "none"),
                           "--port", "1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no configuration file" in proc.stderr


def test_serve_on_a_busy_port_says_so_in_one_line_before_announcing_the_portal(demo_workspace: Workspace) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "countersign_cli", "serve", "--workspace",
                               str(demo_workspace.root), "--port", str(port)],
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "portal on" not in proc.stdout and len(proc.stderr.strip().splitlines()) == 1
    assert f"127.0.0.1:{port}" in proc.stderr and "--port" in proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def test_serve_starts_the_portal_from_another_directory_with_streamlit_flags(demo_workspace: Workspace,
                                                                             tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "countersign"), "serve", "--workspace", str(demo_workspace.root),
         "--port", str(port), "--server.baseUrlPath", "governance"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and server.poll() is None and status != 200:
            status = _status(f"http://127.0.0.1:{port}/governance/_stcore/health")
            time.sleep(0.2)
        assert status == 200, server.poll()
        assert _status(f"http://127.0.0.1:{port}/_stcore/health") != 200  # the flag reached Streamlit
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert f"Countersign {__version__}: portal on http://localhost:{port}" in out


def test_the_oversight_choices_on_the_command_line_are_governances() -> None:
    from countersign_cli.commands import oversight as command
    from governance import oversight

    assert (command.OUTCOMES, command.SORTS) == (oversight.OUTCOMES, oversight.SORTS)


def test_serve_warms_what_the_pages_import_before_the_first_visit(demo_workspace: Workspace) -> None:
    """Issue 35, finding 1: the first page after start paid for every import the pages make. portal.launch imports
    them (read from the page table's scripts) and opens the catalog before Streamlit binds its port."""
    from portal.launch import _workspace, page_imports
    from portal.pages import PAGES

    root = Path(__file__).resolve().parents[2]
    modules = page_imports(root / p.path for p in PAGES)
    assert {"streamlit", "pandas", "governance.usecases.review", "portal.tables"} <= set(modules)  # pages call use cases
    assert _workspace(["run", "app.py", "--server.port", "1", "--", "--workspace", "/w"]) == "/w"
    code = ("import sys; from portal.launch import warm, page_imports, APP_MODULES; "
            f"took = warm({str(demo_workspace.root)!r}, APP_MODULES); "
            "print(sorted(m for m in ('pandas', 'altair', 'duckdb', 'governance.signoff') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['altair', 'duckdb', 'governance.signoff', 'pandas']"
