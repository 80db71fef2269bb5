"""The closed set of reasons a record can be dropped for.

Every pipeline reports drops with one of these names, in the manifest counts and in the
`--drops` Parquet; the validator rejects a manifest that names any other reason. Adding a
reason means adding one line here, with its meaning.
"""

from __future__ import annotations

DROP_REASONS: dict[str, str] = {
    # --- input parsing -------------------------------------------------------------------------
    "malformed_row": "an input row or line could not be parsed (bad JSON, missing column, bad type)",
    "bad_encoding": "the input bytes could not be decoded as text",
    "bad_input_file": "an input file was unreadable or cut short (e.g. a truncated gzip); rows after the fault",
    "bad_warc_record": "a WARC record was corrupt, truncated or not an HTML response",
    "empty_text": "the document or caption is empty after normalisation",
    "too_long": "the document is longer than --max-doc-chars",
    # --- fetching --------------------------------------------------------------------------------
    "blocked_address": "the URL resolves to a private, loopback, link-local or multicast address",
    "invalid_url": "the URL is not an http(s) URL that can be fetched",
    "robots_disallowed": "robots.txt disallows our user agent for this path",
    "opted_out": "X-Robots-Tag holds noai/noimageai/noindex/noimageindex",
    "http_error": "the server answered with an HTTP error status (after retries)",
    "timeout": "the request timed out (after retries)",
    "connection_error": "the connection failed or was cut short (after retries)",
    "too_many_redirects": "the redirect limit was exceeded or a redirect loop was found",
    "too_large": "the body is larger than the maximum size",
    "bad_content_type": "the content type is not one we accept",
    # --- images ------------------------------------------------------------------------------------
    "undecodable_image": "the bytes are not a decodable image (truncated, corrupt, unknown format)",
    "decompression_bomb": "the image has more pixels than the decompression-bomb limit",
    "image_too_small": "the image's shorter side is below the minimum size",
    "image_too_large": "the image's area is above the maximum",
    "bad_aspect_ratio": "the image's aspect ratio is above the maximum, or resizing it would exceed the output size limit",
    "image_too_costly": "decoding the image would exceed the per-image work or time budget (progressive scans, decode time)",
    "single_color": "the image is (nearly) a single colour",
    "hash_mismatch": "the downloaded bytes' hash differs from the expected hash in the input (verify_hash)",
    "image_url_pattern": "the image URL looks like a logo, icon, button, spacer, tracker or ad",
    "boilerplate_image": "the image URL occurs in more documents than the boilerplate limit",
    "no_images": "the document has no usable image left",
    # --- text --------------------------------------------------------------------------------------
    "language": "the language is not in the accepted set or its score is below the threshold",
    "too_few_words": "fewer words than the minimum",
    "too_many_words": "more words than the maximum",
    "mean_word_length": "the mean word length is outside the allowed range",
    "symbol_ratio": "too many symbols (#, ...) per word",
    "alpha_words": "too few words contain a letter",
    "stop_words": "too few common stop words",
    "duplicate_lines": "too large a share of duplicated lines",
    "duplicate_paragraphs": "too large a share of duplicated paragraphs",
    "top_ngram": "a single n-gram covers too large a share of the characters",
    "lorem_ipsum": "the text holds 'lorem ipsum' (C4 rule)",
    "curly_brace": "the text holds a curly brace (C4 rule)",
    "line_too_long": "a line is longer than the maximum (minified code, data dumps, one-line pages)",
    "spam": "emoji, hashtag or link density marks the text as spam",
    "flagged_words": "a paragraph's share of adult/spam words is above the limit (OBELICS node rule)",
    "repetitive_paragraph": "a paragraph's words are mostly inside repeated word n-grams (OBELICS node rule)",
    "domain_boilerplate": "the paragraph occurs on many pages of the same site: site boilerplate (OBELICS node rule)",
    "placeholder_tag": "the caption holds a placeholder tag such as <PERSON>",
    "contaminated": "the text shares a long n-gram with an evaluation set",
    "excluded_subset": "the document belongs to an input subset excluded by --exclude-subsets (e.g. a Pile set)",
    # --- documents (interleaved) ------------------------------------------------------------------------
    "not_interspersed": "no kept image has text both before and after it",
    "one_image_sampled_out": "half of the one-image documents are dropped (KOSMOS-1 rule)",
    # --- CLIP --------------------------------------------------------------------------------------
    "clip_score": "the CLIP image-text similarity is below the threshold or outside the top fraction",
    # --- dedup -------------------------------------------------------------------------------------
    "duplicate_url": "another record with the same normalised URL was kept",
    "exact_duplicate": "another record with the same content hash was kept (smallest key wins)",
    "near_duplicate": "a MinHash near-duplicate with a smaller key was kept",
    "duplicate_image": "another sample with the same image sha256 was kept",
    "near_duplicate_image": "a perceptually similar image (pHash) with a smaller key was kept",
    # --- splits ---------------------------------------------------------------------------------------
    "held_out": "the sample was moved to the held-out corpus (--holdout-fraction), not lost",
    "internal_error": "an unexpected error while processing this record (the detail names it)",
}


def unknown_reasons(reasons: list[str] | dict[str, int]) -> list[str]:
    """The reasons in `reasons` that are not in the closed set, sorted."""
    return sorted(r for r in reasons if r not in DROP_REASONS)
