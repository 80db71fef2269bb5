"""Arrow schemas: per-shard Parquet metadata (one per kind), per-shard stats, and dropped records.

The metadata schema of a kind is also the JSON contract of its `<key>.json` member: every column
is a JSON field of the same name and type (interleaved samples add the `texts`/`images` lists).
"""

from __future__ import annotations

import json

import pyarrow as pa

from schemas.kinds import Kind


def _common_head() -> list[pa.Field]:
    return [
        pa.field("key", pa.string(), nullable=False),
        pa.field("id", pa.string()),
        pa.field("url", pa.string()),
    ]


def _lang() -> list[pa.Field]:
    return [pa.field("lang", pa.string()), pa.field("lang_score", pa.float64())]


_SCHEMA_FIELD = pa.field("schema", pa.string(), nullable=False)
# Extra input columns (img2dataset's save_additional_columns) travel as one JSON object string,
# so the Parquet schema stays fixed whatever the input carried.
_EXTRA_FIELD = pa.field("extra", pa.string())

TEXT_METADATA = pa.schema(
    _common_head()
    + [pa.field("source", pa.string())]
    + _lang()
    + [pa.field("num_chars", pa.int64(), nullable=False), _EXTRA_FIELD, _SCHEMA_FIELD]
)

IMAGE_TEXT_METADATA = pa.schema(
    _common_head()
    + [
        pa.field("caption", pa.string(), nullable=False),
        pa.field("width", pa.int64(), nullable=False),
        pa.field("height", pa.int64(), nullable=False),
        pa.field("original_width", pa.int64()),
        pa.field("original_height", pa.int64()),
        pa.field("sha256", pa.string(), nullable=False),
        # sha256 of the bytes as downloaded (img2dataset's and DataComp's `sha256`/verify_hash);
        # equals `sha256` when the downloaded bytes are stored as they are.
        pa.field("original_sha256", pa.string()),
        pa.field("uid", pa.string()),  # DataComp's 128-bit hex id (the input's, else derived from the key)
    ]
    + _lang()
    + [
        pa.field("clip_score", pa.float64()),
        pa.field("clip_model", pa.string()),
        _EXTRA_FIELD,
        _SCHEMA_FIELD,
    ]
)

INTERLEAVED_METADATA = pa.schema(
    _common_head()
    + [
        pa.field("warc_file", pa.string()),
        pa.field("warc_offset", pa.int64()),
    ]
    + _lang()
    + [
        pa.field("num_texts", pa.int64(), nullable=False),
        pa.field("num_images", pa.int64(), nullable=False),
        pa.field("text_chars", pa.int64(), nullable=False),
        pa.field("image_members", pa.list_(pa.string()), nullable=False),
        pa.field("image_urls", pa.list_(pa.string()), nullable=False),
        _EXTRA_FIELD,
        _SCHEMA_FIELD,
    ]
)

# The interleaved Parquet also holds each document's content in order, so that
# `datasets.load_dataset("parquet", data_files="<corpus>/*.parquet")` gives texts and images (a tar's
# member set varies with the image count, which its webdataset loader refuses). The image struct and
# the `huggingface` schema metadata are those of `datasets.Image()`, so the column loads as images.
HF_IMAGE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
INTERLEAVED_CONTENT = [pa.field("texts", pa.list_(pa.string())), pa.field("images", pa.list_(HF_IMAGE))]
HF_FEATURES = {
    "texts": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"},
    "images": {"feature": {"_type": "Image"}, "_type": "List"},
}

# Fields added after the first shards were written: older samples may lack them.
OPTIONAL_FIELDS = frozenset({"original_sha256", "uid"})

METADATA_SCHEMAS: dict[Kind, pa.Schema] = {
    Kind.TEXT: TEXT_METADATA,
    Kind.IMAGE_TEXT: IMAGE_TEXT_METADATA,
    Kind.INTERLEAVED: INTERLEAVED_METADATA,
}

# One row per shard; `.stats.json` holds the same fields as a JSON object.
SHARD_STATS = pa.schema(
    [
        pa.field("schema", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("shard", pa.string(), nullable=False),
        pa.field("samples", pa.int64(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        # Per-shard input/kept/dropped where the pipeline assigns inputs to shards (image_text);
        # null where drops are decided corpus-wide (they are then only in the manifest).
        pa.field("input", pa.int64()),
        pa.field("kept", pa.int64()),
        pa.field("dropped", pa.map_(pa.string(), pa.int64())),
        pa.field("extra_counts", pa.map_(pa.string(), pa.int64())),
        pa.field("started_at", pa.string()),
        pa.field("finished_at", pa.string()),
        pa.field("duration_s", pa.float64()),
        pa.field("source", pa.string()),
        pa.field("count", pa.int64()),
        pa.field("successes", pa.int64()),
        pa.field("failed_to_download", pa.int64()),
        pa.field("failed_to_resize", pa.int64()),
        pa.field("status_dict", pa.map_(pa.string(), pa.int64())),
    ]
)

# Every pipeline's `--drops DIR` Parquet.
DROPS = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("id", pa.string()),
        pa.field("url", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("duplicate_of", pa.string()),
        pa.field("stage", pa.string(), nullable=False),
    ]
)


def parquet_schema(kind: Kind) -> pa.Schema:
    """The per-shard Parquet schema of a kind: its metadata columns (plus the interleaved content)."""
    if kind is not Kind.INTERLEAVED:
        return METADATA_SCHEMAS[kind]
    schema = pa.schema(list(METADATA_SCHEMAS[kind]) + INTERLEAVED_CONTENT)
    return schema.with_metadata({b"huggingface": json.dumps({"info": {"features": HF_FEATURES}}).encode()})


def _column_type(values: list[object]) -> pa.DataType:
    """The Arrow type of an input column carried as a top-level column (all-null columns are strings)."""
    present = [v for v in values if v is not None]
    if not present:
        return pa.string()
    try:
        return pa.array(present).type
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.string()  # mixed types: the writer stores them as JSON text


def schema_with_columns(schema: pa.Schema, rows: list[dict[str, object]]) -> pa.Schema:
    """`schema` plus the input columns the rows carry beyond it (img2dataset's status, exif, LAION's
    similarity, ...), in first-seen order, so they are top-level Parquet columns."""
    names = set(schema.names)
    extra: dict[str, list[object]] = {}
    for row in rows:
        for name, value in row.items():
            if name not in names:
                extra.setdefault(name, []).append(value)
    for name, values in extra.items():
        schema = schema.append(pa.field(name, _column_type(values)))
    return schema


def json_type_problem(field: pa.Field, value: object) -> str | None:
    """Why a JSON value does not fit an Arrow field, or None when it fits."""
    if value is None:
        return None if field.nullable else f"field {field.name!r} must not be null"
    t = field.type
    if pa.types.is_string(t):
        ok = isinstance(value, str)
    elif pa.types.is_integer(t):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif pa.types.is_floating(t):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif pa.types.is_list(t):
        ok = isinstance(value, list) and all(
            json_type_problem(pa.field("item", t.value_type), v) is None for v in value
        )
    else:  # pragma: no cover - no other types in the metadata schemas
        ok = True
    return None if ok else f"field {field.name!r} has {type(value).__name__} {value!r:.60}, expected {t}"
