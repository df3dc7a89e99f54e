"""Report blocks, registered in one table: a block is one function (or module) and one line here.

A block turns the report's facts (:class:`governance.reports.facts.ReportFacts`) into nodes of the neutral document
model (:mod:`governance.document`), or raises :class:`governance.document.Missing` saying what evidence it lacks.
Templates name blocks; :mod:`governance.reports.template_library` refuses a name this table does not hold. Each
registered evidence kind brings its own blocks (``drift``, ``bias``, …) from its module
(:mod:`governance.analytics.kinds`), registered here the same way on first use.
"""

from __future__ import annotations

from core.errors import ConfigError
from core.registry import Registry
from governance.document import Block
from governance.reports.blocks import consistency, lifecycle, oversight, signoff, version

BLOCKS: Registry[Block] = Registry("report block", ConfigError)
for _name, _block in (
    ("identity", Block("Identification", version.identity, "the catalog version")),
    ("provider", Block("Provider and accountable owner", version.provider, "model owner")),
    ("intended_use", Block("Intended purpose", version.intended_use, "model intended_use or model card")),
    ("model_card", Block("Model card", version.model_card, "a synced model card")),
    ("lineage", Block("Lineage across accounts", version.lineage, "the catalog lineage")),
    ("lineage_changes", Block("Versions and promotions", version.lineage_changes, "other versions or requests")),
    ("deployments", Block("Deployments", version.deployments, "synced deployments")),
    ("consistency", Block("Consistency across environments", consistency.consistency,
                          "the lineage's artifact hashes, containers and inference specifications")),
    ("registry_history", Block("Registry history", version.registry_history, "history rows of the version")),
    ("inventory", Block("Model inventory entry", version.inventory, "the catalog model")),
    ("development", Block("Development process", version.development, "the training run linked to the version")),
    ("data", Block("Data provenance", version.data, "the version's data URIs")),
    ("human_oversight", Block("Human oversight", oversight.human_oversight, "the tier policy")),
    ("performance", Block("Performance across environments", version.performance, "registered metrics")),
    ("monitoring", Block("Post-market monitoring", oversight.monitoring, "a 'current' dataset, drift evidence")),
    ("limitations", Block("Limitations and foreseeable risks", oversight.limitations, "model card limitations")),
    ("gates", Block("Policy gate verdicts", signoff.gates, "governance.policy, or a promotion request's gates")),
    ("policy", Block("Metrics and thresholds in force", signoff.policy, "the tier policy")),
    ("policy_reference", Block("Policy applied", signoff.policy_reference, "the tier policy")),
    ("approvals", Block("Approvals", signoff.approvals, "promotion requests and decisions")),
    ("risk_acceptances", Block("Risk acceptances", signoff.risk_acceptances, "decisions of kind accept_risk")),
    ("evidence_log", Block("Test log", signoff.evidence_log, "evidence rows")),
    ("cybersecurity", Block("Cybersecurity", version.cybersecurity, "the artifact sha256")),
    ("ledger", Block("Ledger entries and checkpoint", signoff.ledger, "ledger entries and a checkpoint")),
    ("periodic_review", Block("Periodic review", oversight.periodic_review, "periodic reviews of a deployed version")),
    ("regimes", Block("Regimes in force", lifecycle.regimes, "governance/data/regimes.toml and [policy] regimes")),
    ("fallback", Block("Fallback and kill switch", lifecycle.fallback, "an approved fallback plan (governance.fallback)")),
    ("incidents", Block("Incidents", lifecycle.incidents, "the incident register (governance.incidents)")),
):
    BLOCKS.register(_name, _block)


def _register_evidence_blocks() -> None:
    """Register the blocks every evidence kind brings (its module's ``blocks``), like the built-in ones."""
    from governance.analytics import kinds

    for name in kinds.names():
        for block_name, block in kinds.kind(name).blocks:
            if block_name not in BLOCKS:
                BLOCKS.register(block_name, block)


_register_evidence_blocks()


def known() -> Registry[Block]:
    """The block table, with the blocks of every evidence kind registered so far (a kind registered at run time
    brings its blocks along)."""
    _register_evidence_blocks()
    return BLOCKS


def block(name: str) -> Block:
    """The registered block ``name`` (a ``ConfigError`` naming the known ones otherwise)."""
    return known()[name]
