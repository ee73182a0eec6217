"""The HA-strategy matrix: which per-network health vectors call for host recovery (§3.4).

Masakari's consul driver reads the matrix without checking it; Vigil validates it when loading,
because a typo there silently disables (or triggers) evacuations.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import yaml

log = logging.getLogger(__name__)

NETWORKS = ("manage", "tenant", "storage")
ACTIONS = ("recovery",)
HEALTH_VALUES = ("up", "down")


class MatrixError(ValueError):
    """The matrix file is unusable; the message names the file and the offending entry."""


@dataclass(frozen=True)
class Matrix:
    sequence: tuple[str, ...]
    recovery_vectors: frozenset[tuple[str, ...]]
    source: str

    def decide(self, vector: tuple[str, ...]) -> str:
        """Sample value for a health vector in ``sequence`` order: up, down or none."""
        if all(value == "up" for value in vector):
            return "up"
        if vector in self.recovery_vectors:
            return "down"
        return "none"


DEFAULT_MATRIX = Matrix(
    sequence=NETWORKS,
    recovery_vectors=frozenset(
        {
            ("up", "up", "down"),
            ("up", "down", "down"),
            ("down", "up", "down"),
            ("down", "down", "down"),
        }
    ),
    source="built-in default (recovery iff storage is down)",
)


def parse_matrix(document: object, source: str) -> Matrix:
    """Validate a loaded YAML document; raise MatrixError saying exactly what is wrong."""
    if not isinstance(document, dict):
        raise MatrixError(f"{source}: expected a mapping with 'sequence' and 'matrix'")
    unknown = set(document) - {"sequence", "matrix"}
    if unknown:
        raise MatrixError(f"{source}: unknown keys {sorted(unknown)} (allowed: sequence, matrix)")
    sequence = document.get("sequence", list(NETWORKS))
    if not isinstance(sequence, list) or not sequence:
        raise MatrixError(f"{source}: 'sequence' must be a non-empty list of {list(NETWORKS)}")
    for name in sequence:
        if name not in NETWORKS:
            raise MatrixError(f"{source}: sequence entry {name!r} is not one of {list(NETWORKS)}")
    if len(set(sequence)) != len(sequence):
        raise MatrixError(f"{source}: sequence entries must be unique, got {sequence}")
    rows = document.get("matrix")
    if not isinstance(rows, list):
        raise MatrixError(f"{source}: 'matrix' must be a list of {{health: [...], action: [...]}}")
    vectors: set[tuple[str, ...]] = set()
    for index, row in enumerate(rows):
        where = f"{source}: matrix[{index}]"
        if not isinstance(row, dict) or set(row) != {"health", "action"}:
            raise MatrixError(f"{where} must have exactly the keys 'health' and 'action'")
        health, action = row["health"], row["action"]
        if not isinstance(health, list) or len(health) != len(sequence):
            raise MatrixError(
                f"{where}.health must list {len(sequence)} values, one per {sequence}"
            )
        for value in health:
            if value not in HEALTH_VALUES:
                raise MatrixError(f"{where}.health value {value!r} is not 'up' or 'down'")
        if not isinstance(action, list):
            raise MatrixError(f"{where}.action must be a list (use [] for no action)")
        for value in action:
            if value not in ACTIONS:
                raise MatrixError(f"{where}.action value {value!r} is not one of {list(ACTIONS)}")
        if "recovery" in action:
            vectors.add(tuple(health))
    return Matrix(tuple(sequence), frozenset(vectors), source)


_cache: dict[str, tuple[float, Matrix | MatrixError]] = {}


def load_matrix(path: str | None) -> Matrix:
    """The operator's matrix file, or the default one; raise MatrixError when it is unusable.

    Cached by modification time, so editing the file takes effect on the next cycle.
    """
    if not path:
        return DEFAULT_MATRIX
    try:
        mtime = os.stat(path).st_mtime
    except OSError as exc:
        raise MatrixError(f"matrix file {path} cannot be read: {exc.strerror}") from exc
    cached = _cache.get(path)
    if cached is None or cached[0] != mtime:
        try:
            with open(path, encoding="utf-8") as handle:
                result: Matrix | MatrixError = parse_matrix(yaml.safe_load(handle), path)
        except yaml.YAMLError as exc:
            result = MatrixError(f"matrix file {path} is not valid YAML: {exc}")
        except MatrixError as exc:
            result = exc
        _cache[path] = (mtime, result)
        cached = _cache[path]
    if isinstance(cached[1], MatrixError):
        raise cached[1]
    return cached[1]
