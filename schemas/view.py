"""`kosmos-shards view`: a self-contained HTML contact sheet so a person can look at the data.

Images are inlined as base64 `data:` JPEG thumbnails; all text is HTML-escaped; the page loads
nothing from anywhere.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from itertools import islice

import fsspec

from schemas.foreign import is_foreign_target, iter_foreign_samples
from schemas.images import thumbnail_jpeg
from schemas.manifest import read_manifest
from schemas.reader import iter_shard
from schemas.samples import ImageTextSample, InterleavedSample, Sample, TextSample
from schemas.storage import join

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;width:272px}
.doc{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px;margin-bottom:16px;max-width:820px}
.key{font:11px monospace;color:#888;word-break:break-all}
img{max-width:256px;max-height:256px;display:block;margin:6px 0}
p{margin:6px 0;white-space:pre-wrap}
"""


def _img_tag(data: bytes, alt: str = "") -> str:
    thumb = thumbnail_jpeg(data)
    if thumb is None:
        return '<p class="key">[image does not decode]</p>'
    b64 = base64.b64encode(thumb).decode("ascii")
    return f'<img src="data:image/jpeg;base64,{b64}" alt="{html.escape(alt)}">'


def _key_line(sample: Sample) -> str:
    url = f" &middot; {html.escape(sample.url)}" if sample.url else ""
    return f'<div class="key">{html.escape(sample.key)}{url}</div>'


def render_sample(sample: Sample, max_text_chars: int = 1500) -> str:
    """One sample as an HTML fragment: a card (image-text) or a document (text, interleaved)."""
    if isinstance(sample, ImageTextSample):
        score = f" (clip {sample.clip_score:.3f})" if sample.clip_score is not None else ""
        return (
            f'<div class="card">{_img_tag(sample.image, sample.caption)}'
            f"<p>{html.escape(sample.caption)}{score}</p>"
            f'<div class="key">{sample.width}x{sample.height}</div>{_key_line(sample)}</div>'
        )
    if isinstance(sample, TextSample):
        text = sample.text if len(sample.text) <= max_text_chars else sample.text[:max_text_chars] + " [...]"
        return f'<div class="doc">{_key_line(sample)}<p>{html.escape(text)}</p></div>'
    assert isinstance(sample, InterleavedSample)
    parts = [f'<div class="doc">{_key_line(sample)}']
    for text, image in zip(sample.texts, sample.images, strict=True):
        if image is not None:
            parts.append(_img_tag(image.data, image.alt or ""))
        elif text is not None:
            parts.append(f"<p>{html.escape(text)}</p>")
    parts.append("</div>")
    return "".join(parts)


def render_page(title: str, samples: Iterable[Sample]) -> str:
    body = [render_sample(s) for s in samples]
    cards = [b for b in body if b.startswith('<div class="card">')]
    docs = [b for b in body if not b.startswith('<div class="card">')]
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{len(body)} samples</p><div class='grid'>{''.join(cards)}</div>{''.join(docs)}</body></html>"
    )


def view_corpus(root: str, out_path: str, n: int = 48) -> int:
    """Write the contact sheet of the first `n` samples; returns how many it shows."""
    if is_foreign_target(root):
        picked = list(islice(iter_foreign_samples(root), n))
        with fsspec.open(out_path, "w", encoding="utf-8") as f:
            f.write(render_page(f"foreign image_text folder: {root}", picked))
        return len(picked)
    manifest = read_manifest(root)
    picked: list[Sample] = []
    for entry in manifest.shards:  # only the listed shards, at their listed size (and sha256 when read whole)
        for sample in iter_shard(join(root, entry.path), manifest.kind, entry):
            picked.append(sample)
            if len(picked) >= n:
                break
        if len(picked) >= n:
            break
    page = render_page(f"{manifest.kind.value} corpus: {root}", picked)
    with fsspec.open(out_path, "w", encoding="utf-8") as f:
        f.write(page)
    return len(picked)
