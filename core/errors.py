"""The one error hierarchy of Countersign (in the neutral core: every layer raises these).

Every error a user can meet derives from :class:`CountersignError` and carries a message that says what
was wrong and what to do about it. The CLI maps them to exit status 2 (bad input, configuration, access)
or 1 (a finding: a tampered ledger, an invalid signature).

    CountersignError
    ├── ConfigError          countersign.toml or the workspace is wrong (names file, key, problem)
    ├── InputError           a file, column, value or argument given by the user is wrong
    │   └── UnsafeArtifact   an artifact would run code when loaded (pickle, joblib, unknown types)
    ├── NotFound             an unknown model, version, request, account or evidence id
    ├── AccessDenied         the acting identity lacks the role for an action, or breaks four eyes
    ├── ConflictError        the action does not fit the current state (already decided, already executing)
    │   └── ArtifactMismatch the bytes of an artifact are not the ones an approval bound (``expected``, ``found``)
    ├── ConnectorError       an account could not be reached or answered something unusable
    ├── CatalogBusy          the catalog stayed locked by another process for longer than the retry budget
    └── Finding              a verification found a problem (exit status 1)
        ├── LedgerTampered   the ledger chain or its checkpoint does not verify
        └── SignatureInvalid a PDF signature is broken, invalid or untrusted
"""

from __future__ import annotations


class CountersignError(Exception):
    """Base of every error Countersign raises on purpose."""

    exit_code = 2


class ConfigError(CountersignError):
    """The workspace configuration is missing or invalid."""


class InputError(CountersignError):
    """A user-supplied file, column, value or argument is invalid."""


class UnsafeArtifact(InputError):
    """A model artifact would execute code when loaded, so it is refused."""


class NotFound(CountersignError):
    """An object the user named does not exist."""


class AccessDenied(CountersignError):
    """The acting identity may not perform this action."""


class ConflictError(CountersignError):
    """The action conflicts with the current state of the object."""


class ConnectorError(CountersignError):
    """A source account could not be reached or returned unusable data."""


class CatalogBusy(CountersignError):
    """The catalog file stayed locked by another process beyond the retry budget."""


class Finding(CountersignError):
    """A verification failed; the CLI exits with status 1."""

    exit_code = 1


class LedgerTampered(Finding):
    """The ledger does not verify against its chain or its newest signed checkpoint."""


class SignatureInvalid(Finding):
    """A signed document failed verification."""


def _short(digest: str | None) -> str:
    return f"{digest[:12]}…" if digest else "none (the bytes could not be read)"


class ArtifactMismatch(ConflictError):
    """The bytes of an artifact are not the ones an approval bound: its sha256 read now differs from the approved one.

    ``expected`` is the digest the approval bound, ``found`` the one read now (None when the bytes could not be
    read); ``where`` names the artifact and the side of a promotion it is on (the source, or the target's copy).
    """

    exit_code = 1  # a finding: the bytes are not the approved ones
    DEFAULT_REMEDY = ("Nothing was promoted. Find out who changed the bytes; to promote the current ones, request "
                      "and approve the promotion again")

    def __init__(self, expected: str | None, found: str | None, where: str = "the artifact", *,
                 remedy: str | None = None) -> None:
        self.expected = expected
        self.found = found
        self.where = where
        self.remedy = remedy or self.DEFAULT_REMEDY
        super().__init__(f"{where}: sha256 {_short(found)} now, but the approval bound {_short(expected)}. "
                         f"{self.remedy}.")

    def __reduce__(self) -> tuple[object, ...]:
        # rebuilt from its parts, not from the message (the default would pass the message as ``expected``)
        return (_rebuild_mismatch, (self.expected, self.found, self.where, self.remedy))


def _rebuild_mismatch(expected: str | None, found: str | None, where: str, remedy: str) -> ArtifactMismatch:
    return ArtifactMismatch(expected, found, where, remedy=remedy)
