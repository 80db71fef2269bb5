"""Opt-outs: robots.txt by RFC 9309 (protego) and the X-Robots-Tag response header by its grammar.

robots.txt: protego implements RFC 9309 (the longest matching rule wins, `allow` wins a tie,
`*` and `$` in paths, groups of the same agent merged, agents matched case-insensitively, `*` as
the fallback group); `urllib.robotparser` does none of the first three. The body is decoded as
UTF-8 with a leading byte-order mark removed (a BOM would otherwise glue itself to the first
line and hide the first group). Rules are cached per process, per origin.

X-Robots-Tag (as search engines read it): each header is a comma-separated list of rules; a rule
`agent: directives` scopes itself and the rules after it in that header to `agent`, until the next
scope; `unavailable_after: <date>` is a rule whose value holds colons and often commas. Several
headers are read one by one.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from protego import Protego

from filters.base import Drop
from pipelines.io.fetch.config import USER_AGENT_TOKEN, FetchConfig

_BOM = "\ufeff"
# Rules whose own syntax is `name: value`; any other `token:` prefix names a user agent.
_VALUED_RULES = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})
_SCOPE = re.compile(r"^\s*([A-Za-z0-9_.*-]+)\s*:\s*(.*)$", re.DOTALL)


def parse_robots_txt(body: bytes) -> Protego:
    """RFC 9309 rules from a robots.txt body (UTF-8; BOM and undecodable bytes tolerated)."""
    text = body.decode("utf-8", errors="replace")
    return Protego.parse(text.removeprefix(_BOM))


def robots_allows(rules: Protego, url: str, token: str = USER_AGENT_TOKEN) -> bool:
    """Whether `token` may fetch `url` under `rules`."""
    return rules.can_fetch(url, token)


def _rules_of(value: str) -> list[tuple[str | None, str]]:
    """(agent or None, rule) for each rule of one X-Robots-Tag header value, scopes applied.

    A date cut by the comma split ('unavailable_after: Sunday, 01-Jul-12 07:00:00 PST') is rejoined:
    an item starting with a digit right after an unavailable_after rule continues its date."""
    out: list[tuple[str | None, str]] = []
    agent: str | None = None
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        if out and out[-1][1].lower().startswith("unavailable_after") and item[0].isdigit():
            out[-1] = (out[-1][0], f"{out[-1][1]}, {item}")
            continue
        match = _SCOPE.match(item)
        if match and match.group(1).lower() not in _VALUED_RULES:
            agent, item = match.group(1).lower(), match.group(2).strip()
            if not item:
                continue
        out.append((agent, item))
    return out


def _http_date(text: str) -> dt.datetime | None:
    """An unavailable_after date: RFC 822/850/1123 or ISO 8601; None when unreadable."""
    text = text.strip()
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        when = None
    if when is None:
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def opted_out(
    header_values: Sequence[str],
    token: str = USER_AGENT_TOKEN,
    directives: Sequence[str] = FetchConfig.opt_out_directives,
    now: float | None = None,
) -> str | None:
    """The X-Robots-Tag rule that opts `token` out (unscoped, or scoped to `token`), or None.

    `unavailable_after: <date>` opts out once the date has passed (the page asked to be removed)."""
    wanted = {d.lower() for d in directives}
    token = token.lower()
    moment = time.time() if now is None else now
    for value in header_values:
        for agent, rule in _rules_of(value):
            if agent is not None and agent != token:
                continue
            name, _, arg = rule.partition(":")
            name = name.strip().lower()
            if name in wanted:
                return name
            if name == "unavailable_after" and arg.strip():
                when = _http_date(arg)
                if when is not None and when.timestamp() <= moment:
                    return f"unavailable_after: {arg.strip()}"
    return None


# --------------------------------------------------------------------------------------------
# robots.txt rules, cached per process (a Beam worker process serves many bundles and DoFns)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RobotsRules:
    parser: Protego | None
    """None = no rules (robots.txt absent, 4xx): everything allowed."""
    drop: Drop | None = None
    """Set when robots.txt was unreachable or unreadable: every URL of the host gets this drop."""


class RobotsCache:
    """Thread-safe LRU of origin -> (expiry, rules)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._data: OrderedDict[str, tuple[float, RobotsRules]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, origin: str) -> RobotsRules | None:
        with self._lock:
            item = self._data.get(origin)
            if item is None or item[0] < time.monotonic():
                return None
            self._data.move_to_end(origin)
            return item[1]

    def put(self, origin: str, rules: RobotsRules, ttl: float) -> None:
        with self._lock:
            self._data[origin] = (time.monotonic() + ttl, rules)
            self._data.move_to_end(origin)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


ROBOTS_CACHE = RobotsCache()
"""The per-process robots.txt cache (tests clear it with ROBOTS_CACHE.clear())."""
