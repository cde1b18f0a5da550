"""robots.txt per origin, as RFC 9309 says, cached in Redis for every fetch process.

- 2xx: the rules apply (the first `fetch_robots_max_bytes` of the file are read);
- 4xx (but 429), or more than five redirects: no robots.txt, everything is allowed;
- 5xx, 429, a network error or a timeout: the whole site is disallowed for
  `fetch_robots_error_ttl` seconds, and fetches of it are retried later.

Redirects of robots.txt are followed hop by hop through the guarded client like any other.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from services.fetch.decoding import decode_html
from services.fetch.guard import host_port
from services.fetch.transport import read_body
from shared.errors import PermanentError, RetryableError
from shared.settings import Settings
from shared.streams import robots_key
from shared.urls import canonical_url

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from services.fetch.politeness import HostSlots

ROBOTS_MAX_REDIRECTS = 5
_LOCAL_TTL = 60.0  # seconds a parsed file is reused in this process before asking Redis again


@dataclass(frozen=True, slots=True)
class RobotsFile:
    """What newsflow knows of one origin's robots.txt."""

    kind: str  # "rules" | "allow" | "unreachable"
    body: str = ""
    reason: str = ""

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "body": self.body, "reason": self.reason})

    @classmethod
    def from_json(cls, raw: str | bytes) -> RobotsFile:
        data = json.loads(raw)
        return cls(str(data["kind"]), str(data.get("body", "")), str(data.get("reason", "")))


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    host, port = host_port(url)
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme.lower()}://{netloc}:{port}"


class Robots:
    """Answers "may newsflow fetch this URL, and how slowly?" for every fetch process."""

    def __init__(
        self, redis: Redis, client: httpx.AsyncClient, slots: HostSlots, settings: Settings
    ) -> None:
        self._redis = redis
        self._client = client
        self._slots = slots
        self._settings = settings
        self._agent = settings.fetch_user_agent.split("/", 1)[0].strip() or "newsflow"
        self._parsed: dict[str, tuple[float, RobotsFile, Protego | None]] = {}
        self._loading: dict[str, asyncio.Future[tuple[RobotsFile, Protego | None]]] = {}

    async def check(self, url: str) -> float:
        """The crawl delay robots.txt asks of newsflow (0 when none); raises when disallowed.

        `PermanentError("robots.txt disallows ...")` for a disallowed URL, `RetryableError`
        while the origin's robots.txt cannot be had.
        """
        origin = origin_of(url)
        robots, rules = await self._rules(origin)
        if robots.kind == "unreachable":
            raise RetryableError(
                f"robots.txt of {origin} is unavailable ({robots.reason}); "
                "the site counts as disallowed until it answers",
                retry_after=float(self._settings.fetch_robots_error_ttl),
            )
        if rules is None:
            return 0.0
        if not rules.can_fetch(url, self._agent):
            path = urlsplit(url).path or "/"
            raise PermanentError(f"robots.txt disallows {path} for {self._agent}")
        delay = rules.crawl_delay(self._agent)
        return float(delay) if delay else 0.0

    async def _rules(self, origin: str) -> tuple[RobotsFile, Protego | None]:
        cached = self._parsed.get(origin)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1], cached[2]
        # Tasks asking for one origin at once share one load; other origins never wait on it.
        loading = self._loading.get(origin)
        if loading is None:
            loading = asyncio.ensure_future(self._load(origin))
            self._loading[origin] = loading
            loading.add_done_callback(lambda _: self._loading.pop(origin, None))
        return await asyncio.shield(loading)

    async def _load(self, origin: str) -> tuple[RobotsFile, Protego | None]:
        raw = await self._redis.get(robots_key(origin))
        if raw is not None:
            robots = RobotsFile.from_json(raw)
        else:
            robots = await self._download(origin)
            ttl = (
                self._settings.fetch_robots_error_ttl
                if robots.kind == "unreachable"
                else self._settings.fetch_robots_ttl
            )
            await self._redis.set(robots_key(origin), robots.to_json(), ex=ttl)
        rules = Protego.parse(robots.body) if robots.kind == "rules" else None
        self._parsed[origin] = (time.monotonic() + _LOCAL_TTL, robots, rules)
        if len(self._parsed) > 10_000:
            self._parsed.pop(next(iter(self._parsed)))
        return robots, rules

    async def _download(self, origin: str) -> RobotsFile:  # noqa: PLR0911 - one per RFC case
        settings = self._settings
        url = f"{origin}/robots.txt"
        try:
            async with asyncio.timeout(settings.fetch_total_timeout):
                for _hop in range(ROBOTS_MAX_REDIRECTS + 1):
                    host, _ = host_port(url)
                    async with (
                        # One load per origin and process: it may wait behind a page.
                        self._slots.slot(
                            host,
                            settings.fetch_host_interval,
                            settings.fetch_max_wait,
                            behind_others=True,
                        ) as held,
                        self._client.stream("GET", url) as response,
                    ):
                        await held.release()
                        code = response.status_code
                        if response.has_redirect_location:
                            url = canonical_url(urljoin(url, response.headers["location"]))
                            continue
                        if 200 <= code < 300:
                            try:
                                body = await read_body(
                                    response,
                                    settings.fetch_max_bytes,
                                    settings.fetch_robots_max_bytes,
                                    truncate=True,
                                )
                            except PermanentError as exc:  # not decodable: no usable rules
                                return RobotsFile("allow", reason=exc.reason)
                            text = decode_html(body, response.headers.get("content-type"))
                            return RobotsFile("rules", text)
                        if code == 429 or code >= 500:
                            return RobotsFile("unreachable", reason=f"HTTP {code}")
                        return RobotsFile("allow", reason=f"HTTP {code}")
                return RobotsFile("allow", reason="too many redirects")
        except TimeoutError:
            return RobotsFile(
                "unreachable", reason=f"no answer within {settings.fetch_total_timeout:g} s"
            )
        except PermanentError as exc:
            # A redirect newsflow will not follow (an internal address, a name that does not
            # resolve): as with too many redirects, there is no robots.txt to be had.
            return RobotsFile("allow", reason=exc.reason)
        except httpx.TimeoutException as exc:
            return RobotsFile("unreachable", reason=f"no answer in time: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            return RobotsFile("unreachable", reason=f"{type(exc).__name__}")
