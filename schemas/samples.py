"""Typed samples of the three kinds, and their exact WebDataset member layout.

    text:        <key>.txt (the document)   <key>.json (metadata)
    image_text:  <key>.jpg|png|webp         <key>.txt (caption)    <key>.json (metadata)
    interleaved: <key>.json (texts/images lists + metadata)   <key>.0.jpg  <key>.1.png ...

`sample_members()` turns a sample into members; `sample_from_members()` is the one way back,
and `sample_problems()` lists every way a group of members breaks the contract (the validator
and the reader share it, so they can never disagree).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from schemas.arrow_schemas import METADATA_SCHEMAS, OPTIONAL_FIELDS, json_type_problem
from schemas.keys import key_problem, uid_of
from schemas.kinds import IMAGE_EXTENSIONS, Kind, SchemaError, kind_of_schema_id

_IMAGE_MEMBER = re.compile(r"^(\d+)\.(" + "|".join(IMAGE_EXTENSIONS) + r")$")
IMAGE_TEXT_FIELDS = frozenset(METADATA_SCHEMAS[Kind.IMAGE_TEXT].names)
IMAGE_ENTRY_FIELDS = ("member", "url", "width", "height", "sha256", "clip_score", "alt")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_bytes(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True).encode("utf-8")


@dataclass
class TextSample:
    """One text document."""

    kind: ClassVar[Kind] = Kind.TEXT
    key: str
    text: str
    id: str | None = None
    url: str | None = None
    source: str | None = None
    lang: str | None = None
    lang_score: float | None = None
    extra: dict[str, Any] | None = None

    def metadata(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "id": self.id,
            "url": self.url,
            "source": self.source,
            "lang": self.lang,
            "lang_score": self.lang_score,
            "num_chars": len(self.text),
            "extra": self.extra,
            "schema": self.kind.schema_id,
        }

    def members(self) -> dict[str, bytes]:
        return {"txt": self.text.encode("utf-8"), "json": _json_bytes(self.metadata())}


@dataclass
class ImageTextSample:
    """One image with its caption; metadata columns follow img2dataset's where they overlap."""

    kind: ClassVar[Kind] = Kind.IMAGE_TEXT
    key: str
    image: bytes
    caption: str
    width: int
    height: int
    image_ext: str = "jpg"
    url: str | None = None
    id: str | None = None
    original_width: int | None = None
    original_height: int | None = None
    sha256: str = ""
    lang: str | None = None
    lang_score: float | None = None
    clip_score: float | None = None
    clip_model: str | None = None
    extra: dict[str, Any] | None = None
    original_sha256: str | None = None
    uid: str | None = None
    # Input columns kept as top-level JSON fields and Parquet columns (img2dataset's status, exif,
    # error_message, LAION's similarity, ...); names never collide with the fields above.
    columns: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.sha256:
            self.sha256 = sha256_hex(self.image)
        if not self.uid:
            self.uid = uid_of(self.key)

    def metadata(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in (self.columns or {}).items() if k not in IMAGE_TEXT_FIELDS},
            "key": self.key,
            "id": self.id,
            "url": self.url,
            "caption": self.caption,
            "width": self.width,
            "height": self.height,
            "original_width": self.original_width,
            "original_height": self.original_height,
            "sha256": self.sha256,
            "original_sha256": self.original_sha256,
            "uid": self.uid,
            "lang": self.lang,
            "lang_score": self.lang_score,
            "clip_score": self.clip_score,
            "clip_model": self.clip_model,
            "extra": self.extra,
            "schema": self.kind.schema_id,
        }

    def members(self) -> dict[str, bytes]:
        return {
            self.image_ext: self.image,
            "txt": self.caption.encode("utf-8"),
            "json": _json_bytes(self.metadata()),
        }


@dataclass
class InterleavedImage:
    """An image node of an interleaved document; `member` is `<n>.<ext>`, n its ordinal."""

    member: str
    data: bytes
    width: int
    height: int
    url: str | None = None
    sha256: str = ""
    clip_score: float | None = None
    alt: str | None = None

    def __post_init__(self) -> None:
        if not self.sha256:
            self.sha256 = sha256_hex(self.data)

    def entry(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "url": self.url,
            "width": self.width,
            "height": self.height,
            "sha256": self.sha256,
            "clip_score": self.clip_score,
            "alt": self.alt,
        }


@dataclass
class InterleavedSample:
    """A web document: parallel `texts`/`images` lists, exactly one non-null per position."""

    kind: ClassVar[Kind] = Kind.INTERLEAVED
    key: str
    texts: list[str | None]
    images: list[InterleavedImage | None]
    url: str | None = None
    id: str | None = None
    warc_file: str | None = None
    warc_offset: int | None = None
    lang: str | None = None
    lang_score: float | None = None
    extra: dict[str, Any] | None = None

    @classmethod
    def from_nodes(
        cls, key: str, nodes: list[str | tuple[bytes, str, int, int]], **meta: Any
    ) -> InterleavedSample:
        """Build from document-order nodes: a str is a paragraph, a tuple (bytes, ext, w, h) an image."""
        texts: list[str | None] = []
        images: list[InterleavedImage | None] = []
        for node in nodes:
            if isinstance(node, str):
                texts.append(node)
                images.append(None)
            else:
                data, ext, width, height = node
                n = sum(1 for i in images if i is not None)
                texts.append(None)
                images.append(InterleavedImage(f"{n}.{ext}", data, width, height))
        return cls(key=key, texts=texts, images=images, **meta)

    @property
    def stored_images(self) -> list[InterleavedImage]:
        return [i for i in self.images if i is not None]

    def metadata(self) -> dict[str, Any]:
        stored = self.stored_images
        return {
            "key": self.key,
            "id": self.id,
            "url": self.url,
            "warc_file": self.warc_file,
            "warc_offset": self.warc_offset,
            "lang": self.lang,
            "lang_score": self.lang_score,
            "num_texts": sum(1 for t in self.texts if t is not None),
            "num_images": len(stored),
            "text_chars": sum(len(t) for t in self.texts if t is not None),
            "image_members": [i.member for i in stored],
            "image_urls": [i.url or "" for i in stored],
            "extra": self.extra,
            "schema": self.kind.schema_id,
        }

    def document(self) -> dict[str, Any]:
        doc = self.metadata()
        doc["texts"] = list(self.texts)
        doc["images"] = [i.entry() if i is not None else None for i in self.images]
        return doc

    def members(self) -> dict[str, bytes]:
        out = {"json": _json_bytes(self.document())}
        for image in self.stored_images:
            out[image.member] = image.data
        return out


Sample = TextSample | ImageTextSample | InterleavedSample


def sample_members(sample: Sample) -> dict[str, bytes]:
    """Member field -> bytes for a sample (fields are the part of the name after the key's dot)."""
    return sample.members()


def parquet_row(sample: Sample) -> dict[str, Any]:
    """The sample's row in the per-shard Parquet (`extra` as a JSON string)."""
    row = sample.metadata()
    row["extra"] = None if row["extra"] is None else json.dumps(row["extra"], sort_keys=True)
    if isinstance(
        sample, InterleavedSample
    ):  # the content in order (schemas.arrow_schemas.INTERLEAVED_CONTENT)
        row["texts"] = list(sample.texts)
        row["images"] = [None if i is None else {"bytes": i.data, "path": i.member} for i in sample.images]
    return row


# ---------------------------------------------------------------------------------------------
# Reading back


def parse_sample_json(raw: bytes) -> dict[str, Any]:
    """The `<key>.json` member as a dict; SchemaError when it is not a JSON object."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # bad UTF-8 or JSON, 5000-digit integers, nesting 100k deep
        raise SchemaError(f"invalid JSON: {type(e).__name__}: {e}") from None
    if not isinstance(obj, dict):
        raise SchemaError(f"JSON member is a {type(obj).__name__}, expected an object")
    return obj


def _metadata_problems(kind: Kind, meta: dict[str, Any], key: str) -> list[str]:
    problems: list[str] = []
    for f in METADATA_SCHEMAS[kind]:
        if f.name == "extra":
            if meta.get("extra") is not None and not isinstance(meta["extra"], dict):
                problems.append("field 'extra' must be an object or null")
            continue
        if f.name not in meta:
            if f.name not in OPTIONAL_FIELDS:
                problems.append(f"field {f.name!r} is missing")
            continue
        problem = json_type_problem(f, meta[f.name])
        if problem:
            problems.append(problem)
    if meta.get("key") != key:
        problems.append(f"JSON key {meta.get('key')!r} differs from the member key {key!r}")
    return problems


def _image_entry_problems(position: int, entry: object, ordinal: int) -> list[str]:
    if not isinstance(entry, dict):
        return [f"images[{position}] is not an object"]
    problems = []
    member = entry.get("member")
    m = _IMAGE_MEMBER.match(member) if isinstance(member, str) else None
    if not m:
        problems.append(f"images[{position}].member {member!r} is not '<n>.<jpg|png|webp>'")
    elif int(m.group(1)) != ordinal:
        problems.append(f"images[{position}].member {member!r} should be numbered {ordinal}")
    for name in ("width", "height"):
        if not isinstance(entry.get(name), int) or entry[name] <= 0:
            problems.append(f"images[{position}].{name} must be a positive integer")
    if not isinstance(entry.get("sha256"), str):
        problems.append(f"images[{position}].sha256 must be a string")
    return problems


def _interleaved_problems(doc: dict[str, Any], fields: set[str]) -> list[str]:
    texts, images = doc.get("texts"), doc.get("images")
    if not isinstance(texts, list) or not isinstance(images, list):
        return ["'texts' and 'images' must both be lists"]
    if len(texts) != len(images):
        return [f"'texts' has {len(texts)} entries but 'images' has {len(images)}"]
    problems: list[str] = []
    referenced: list[str] = []
    for pos, (text, image) in enumerate(zip(texts, images, strict=True)):
        if (text is None) == (image is None):
            problems.append(f"position {pos} must hold exactly one of a text and an image")
        if text is not None and not isinstance(text, str):
            problems.append(f"texts[{pos}] is not a string")
        if image is not None:
            problems.extend(_image_entry_problems(pos, image, len(referenced)))
            if isinstance(image, dict) and isinstance(image.get("member"), str):
                referenced.append(image["member"])
    members_in_json = doc.get("image_members")
    if isinstance(members_in_json, list) and members_in_json != referenced:
        problems.append("'image_members' does not list the images in document order")
    if doc.get("num_images") != len(referenced):
        problems.append(f"'num_images' is {doc.get('num_images')} but {len(referenced)} images are listed")
    image_fields = {f for f in fields if f != "json"}
    for missing in sorted(set(referenced) - image_fields):
        problems.append(f"image member '{missing}' is referenced but not in the tar")
    for unexpected in sorted(image_fields - set(referenced)):
        problems.append(f"member '{unexpected}' is not referenced by the document")
    return problems


def sample_problems(key: str, members: dict[str, bytes]) -> tuple[Kind | None, list[str]]:
    """The kind and every contract violation of one sample's members (images are not decoded here)."""
    problems: list[str] = []
    bad_key = key_problem(key)
    if bad_key:
        problems.append(bad_key)
    for name in sorted(members):
        if "." in name and not _IMAGE_MEMBER.match(name):
            problems.append(f"member '{key}.{name}' has a dotted key (keys must not contain dots)")
    if "json" not in members:
        return None, problems + ["required member 'json' is missing"]
    try:
        meta = parse_sample_json(members["json"])
        kind = kind_of_schema_id(meta.get("schema"))
    except SchemaError as e:
        return None, problems + [str(e)]
    problems += _metadata_problems(kind, meta, key)
    fields = set(members)
    if kind is Kind.INTERLEAVED:
        problems += _interleaved_problems(meta, fields)
        return kind, problems
    if "txt" not in fields:
        problems.append("required member 'txt' is missing")
    else:
        try:
            text = members["txt"].decode("utf-8")
        except UnicodeDecodeError:
            problems.append("member 'txt' is not valid UTF-8")
            text = None
        if kind is Kind.IMAGE_TEXT and text is not None and text != meta.get("caption"):
            problems.append("member 'txt' differs from the JSON caption")
    allowed = {"json", "txt"}
    if kind is Kind.IMAGE_TEXT:
        image_fields = fields & set(IMAGE_EXTENSIONS)
        if len(image_fields) != 1:
            problems.append(
                f"expected exactly one image member ({'/'.join(IMAGE_EXTENSIONS)}), found {len(image_fields)}"
            )
        allowed |= set(IMAGE_EXTENSIONS)
        image = members.get(next(iter(image_fields), ""), None)
        if image is not None and meta.get("sha256") != sha256_hex(image):
            problems.append("JSON sha256 differs from the image bytes")
    for unexpected in sorted(fields - allowed):
        problems.append(f"unexpected member '{unexpected}'")
    return kind, problems


def sample_from_members(key: str, members: dict[str, bytes]) -> Sample:
    """The typed sample for one key's members; SchemaError naming every problem otherwise."""
    kind, problems = sample_problems(key, members)
    if problems or kind is None:
        raise SchemaError(f"sample {key!r}: " + "; ".join(problems))
    meta = parse_sample_json(members["json"])
    common = {n: meta.get(n) for n in ("id", "url", "lang", "lang_score", "extra")}
    if kind is Kind.TEXT:
        return TextSample(key=key, text=members["txt"].decode("utf-8"), source=meta.get("source"), **common)
    if kind is Kind.IMAGE_TEXT:
        ext = next(e for e in IMAGE_EXTENSIONS if e in members)
        return ImageTextSample(
            key=key,
            image=members[ext],
            image_ext=ext,
            caption=meta["caption"],
            width=meta["width"],
            height=meta["height"],
            original_width=meta.get("original_width"),
            original_height=meta.get("original_height"),
            sha256=meta["sha256"],
            clip_score=meta.get("clip_score"),
            clip_model=meta.get("clip_model"),
            original_sha256=meta.get("original_sha256"),
            uid=meta.get("uid"),
            columns={k: v for k, v in meta.items() if k not in IMAGE_TEXT_FIELDS} or None,
            **common,
        )
    images: list[InterleavedImage | None] = []
    for entry in meta["images"]:
        if entry is None:
            images.append(None)
            continue
        values = {k: entry.get(k) for k in IMAGE_ENTRY_FIELDS if k != "member"}
        images.append(InterleavedImage(member=entry["member"], data=members[entry["member"]], **values))
    return InterleavedSample(
        key=key,
        texts=meta["texts"],
        images=images,
        warc_file=meta.get("warc_file"),
        warc_offset=meta.get("warc_offset"),
        **common,
    )
