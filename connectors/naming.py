"""What registries call a version's datasets, mapped to the keys a review reads: ``reference``, ``validation``,
``current``.

An MLflow dataset input has a context (``training``, ``eval`` …); a ZenML artifact a name (``train_df``,
``test_data`` …). Both say what the data was for in the words of the team that logged it; :func:`data_key` turns
those words into Countersign's keys, and nothing else: a name it does not know maps to no key, so a review never
guesses which table is the reference.
"""

from __future__ import annotations

import re

# A version's metadata key naming another registry's entry (its ``source_ref``) that is the same model version: a
# SageMaker-managed MLflow version's model package. The inventory shows the two as one line.
META_TWIN_REF = "countersign.twin_ref"
# A model's tag listing the collections it is in, "a/b; c" (SageMaker Model Registry Collections).
TAG_COLLECTIONS = "countersign.collections"

# the words of a context or name → the data key a review reads (the usual word of each key first)
CONTEXTS: dict[str, str] = {
    "training": "reference", "train": "reference", "reference": "reference",
    "validation": "validation", "eval": "validation", "evaluation": "validation", "test": "validation",
    "current": "current", "production": "current", "serving": "current", "inference": "current",
    "monitoring": "current",
}
# what ZenML users append to an output name: train_df, test_data, training_dataset, validation_set
_SUFFIX = re.compile(r"[_\-. ]?(df|data|dataset|set|frame|table)$")


def data_key(name: str) -> str | None:
    """The data key ``name`` (a context or an artifact name) means, or None: ``train_df`` → ``reference``."""
    word = name.strip().lower()
    if word in CONTEXTS:
        return CONTEXTS[word]
    return CONTEXTS.get(_SUFFIX.sub("", word))


def contexts_of(key: str) -> list[str]:
    """The words that mean ``key``, the usual one first."""
    return [c for c, k in CONTEXTS.items() if k == key]
