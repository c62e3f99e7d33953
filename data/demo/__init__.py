"""The embedded demo warehouse: a believable, seeded world with planted truths.

``python -m data.demo --help`` generates one; ``generator`` assembles it from ``world``
(customers, campaigns, spend), ``lifecycle`` (non-linear stage history), ``experiments``
(planted A/B tests) and ``write`` (fast loaders per dialect).
"""

from data.demo.generator import (
    DEFAULT_CUSTOMERS,
    TargetDatabaseError,
    TargetExistsError,
    generate,
    load_manifest,
    main,
    manifest_path_for,
)

__all__ = [
    "DEFAULT_CUSTOMERS",
    "TargetDatabaseError",
    "TargetExistsError",
    "generate",
    "load_manifest",
    "main",
    "manifest_path_for",
]
