"""Countersign's governance layer. ``__version__`` is the one place the release number is written: the wheel's
metadata (pyproject.toml reads it), ``countersign --version``, PDF metadata and audit-pack manifests all take it
from here. Scheme: semantic versioning, one CHANGELOG.md section per release."""

__version__ = "0.2.0"
