"""The neutral core every layer shares: errors, progress, canonical JSON, the UTC clock, file hashes, typed ids.

Layers point one way: ``core`` ← ``connectors`` ← ``governance`` ← ``pages`` / ``portal`` / CLI. This package
imports nothing of the project (checked by the import-linter contracts in ``pyproject.toml``).

- :mod:`core.errors`    the one error hierarchy (its docstring draws it)
- :mod:`core.progress`  the progress callback type and the callback that ignores everything
- :mod:`core.canonical` canonical JSON, the record hash, the JSON fallback for dates, paths and sets
- :mod:`core.clock`     the naive-UTC clock the catalog and the ledger store
- :mod:`core.hashing`   sha256 of a file
- :mod:`core.ids`       version ids ``account:model:version``, request, decision and sync ids
- :mod:`core.extras`    import an optional engine, or say which ``countersign[extra]`` installs it
"""
