"""What a connector kind supplies to the contract suite: a *source driver* standing up its real source.

A driver plays the part of the people and pipelines that change a registry (create a model, register, change,
delete or damage a version) against the real thing: a folder tree, the moto server, an MLflow or ZenML server.
The suite (``suite.py``) then checks the connector against it. Accounts are named by the suite: ``src`` (dev)
and ``dst`` (prod, the target of promotions); a driver maps them to whatever its source calls them.

Add a kind: write one driver class (here or in its own module) and one line in ``conftest.DRIVERS``.
"""

from __future__ import annotations

from typing import Any

ENVIRONMENTS = {"src": "dev", "dst": "prod"}


class SourceDriver:
    """The hooks one connector kind implements for the contract suite (every method but ``environ`` is required)."""

    kind: str = ""
    # whether register_copy copies the artifact through the source connector (False: the copy points at the source
    # artifact in a store both accounts reach, so no read of it can fail mid-promotion)
    copies_artifacts: bool = True

    def environ(self) -> dict[str, str]:
        """Environment variables the accounts' settings name (API keys); the one optional hook (default: none)."""
        return {}

    def settings(self, account: str) -> dict[str, Any]:
        """The ``[[accounts]]`` keys (beyond name, environment, connector) of a working, empty ``account``."""
        raise NotImplementedError

    def bad_settings(self) -> list[tuple[dict[str, Any], str]]:
        """Invalid settings, each with the key its error must name (a missing, misspelt or out-of-range key)."""
        raise NotImplementedError

    def create_model(self, account: str, model: str) -> None:
        """Create an empty model (group, registered model …) in ``account``."""
        raise NotImplementedError

    def add_version(self, account: str, model: str) -> int:
        """Register a new version (pending approval, with an artifact) of ``model``; return its version number."""
        raise NotImplementedError

    def change_version(self, account: str, model: str, version: int) -> None:
        """Change a version the way a user would (its approval status), so the next sync must see it."""
        raise NotImplementedError

    def delete_version(self, account: str, model: str, version: int) -> None:
        """Delete a version at the source."""
        raise NotImplementedError

    def corrupt_version(self, account: str, model: str, version: int) -> None:
        """Damage one item of a version (its metadata, a document) so that reading it fails."""
        raise NotImplementedError

    def artifact_bytes(self, account: str, model: str, version: int) -> bytes:
        """The bytes of the artifact ``add_version`` registered (the oracle of ``fetch``)."""
        raise NotImplementedError

    def artifact_files(self, account: str, model: str, version: int) -> bytes | dict[str, bytes]:
        """The artifact as the registry holds it now (the oracle of its digest): its bytes when it is one file, or
        {relative path: bytes} of every file when it is a directory (default: ``artifact_bytes``, one file)."""
        return self.artifact_bytes(account, model, version)

    def replace_artifact(self, account: str, model: str, version: int, data: bytes) -> None:
        """Put other bytes in place of the version's model file, as someone with write access to the store would
        (the registry's record of the version stays as it was)."""
        raise NotImplementedError

    def remove_artifact(self, account: str, model: str, version: int) -> None:
        """Delete the version's artifact from the store (the record stays), so that its bytes cannot be read."""
        raise NotImplementedError

    def outside_uris(self, account: str) -> list[str]:
        """URIs ``fetch`` of ``account`` must refuse: other schemes, other accounts, paths leaving the root."""
        raise NotImplementedError
