"""(image URL, alt text) candidates from the HTML pages of WARC files: LAION's recipe.

The same HTML extraction as the interleaved pipeline finds every image with its alt text in page
order; non-content images (logos, icons, trackers) are dropped with their reason before anything
is fetched. The rows then go through the image-caption pipeline like any URL list.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from filters.base import Drop
from filters.html_document import HtmlConfig, extract_document
from filters.interleaved_rules import ImageUrlConfig, image_url_decision
from pipelines.io.input_rows import RowError
from pipelines.io.warc import WarcError, iter_warc_records
from schemas.keys import warc_identity


def iter_alt_text_rows(
    stream: IO[bytes], warc_name: str, html: HtmlConfig | None = None, urls: ImageUrlConfig | None = None
) -> Iterator[tuple[str, dict[str, Any] | RowError]]:
    """(source identity, row or RowError) for every image with alt text, in file and page order.

    The identity (WARC file, record offset, image ordinal) makes the sample key stable.
    """
    html, urls = html or HtmlConfig(), urls or ImageUrlConfig()
    for item in iter_warc_records(stream, warc_name):
        page = warc_identity(warc_name, item.offset)
        if isinstance(item, WarcError):
            yield page, RowError(item.reason, item.detail)
            continue
        try:
            document = extract_document(item.body, item.url, html, declared_charset=item.charset)
        except Exception as err:  # noqa: BLE001 - one page must not end the job: a counted drop
            yield page, RowError("internal_error", f"{warc_name}@{item.offset}: {type(err).__name__}: {err}")
            continue
        for n, image in enumerate(document.images):
            if not image.alt.strip():
                continue  # not a candidate pair: nothing to caption it with
            identity = f"{page}#img{n}"
            decision = image_url_decision(image, urls)
            if isinstance(decision, Drop):
                yield identity, RowError(decision.reason, decision.detail)
            else:
                yield identity, {"url": image.url, "caption": image.alt, "page_url": document.url}
