"""The three sample kinds, their versioned schema ids and their WebDataset member layout."""

from __future__ import annotations

from enum import StrEnum

SCHEMA_VERSION = 1
MANIFEST_SCHEMA = "kosmos.manifest/1"
STATS_SCHEMA = "kosmos.shard_stats/1"
IMAGE_EXTENSIONS = ("jpg", "png", "webp")


class Kind(StrEnum):
    """A corpus holds samples of exactly one kind."""

    TEXT = "text"
    IMAGE_TEXT = "image_text"
    INTERLEAVED = "interleaved"

    @property
    def schema_id(self) -> str:
        """The id written into every sample's JSON, e.g. `kosmos.image_text/1`."""
        return f"kosmos.{self.value}/{SCHEMA_VERSION}"


class SchemaError(ValueError):
    """Data that does not follow the contract (unknown schema version, missing member, bad JSON)."""


def kind_of_schema_id(schema_id: object) -> Kind:
    """The kind named by a schema id; a clear error for unknown kinds or versions."""
    if not isinstance(schema_id, str) or not schema_id.startswith("kosmos.") or "/" not in schema_id:
        raise SchemaError(f"not a kosmos schema id: {schema_id!r}")
    name, _, version = schema_id[len("kosmos.") :].partition("/")
    try:
        kind = Kind(name)
    except ValueError:
        raise SchemaError(f"unknown sample kind {name!r} in schema id {schema_id!r}") from None
    if version != str(SCHEMA_VERSION):
        raise SchemaError(
            f"schema {schema_id!r} has version {version}, this code reads version {SCHEMA_VERSION}; "
            "upgrade the package or rebuild the corpus"
        )
    return kind


def parse_kind(value: str | Kind) -> Kind:
    """A Kind from its name, with a clear error listing the valid names."""
    if isinstance(value, Kind):
        return value
    try:
        return Kind(value)
    except ValueError:
        raise SchemaError(f"unknown kind {value!r}; expected one of {[k.value for k in Kind]}") from None
