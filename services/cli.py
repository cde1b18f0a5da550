"""The `newsflow` command.

newsflow up                      start everything (embedded Valkey unless NEWSFLOW_REDIS_URL)
newsflow submit URL... [--wait]  queue URLs through the API, optionally follow them
newsflow status ID               one article's status
newsflow search QUERY            full-text search
newsflow clean FILE_OR_URL       run the clean stage's extraction on one page, print JSON
newsflow extract FILE            the extract stage's work on a text (or HTML) file, print JSON
newsflow api | worker STAGE      run one process (what `up` starts)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from shared.settings import Settings
from shared.streams import STAGES

TERMINAL = {"indexed", "failed", "skipped"}


def _api_base(settings: Settings, override: str | None) -> str:
    return override or f"http://{settings.api_host}:{settings.api_port}"


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def parse_scale(value: str) -> tuple[str, int]:
    """`STAGE=N` from the command line, e.g. `extract=2`."""
    stage, _, count = value.partition("=")
    if stage not in STAGES or not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(
            f"expected STAGE=N with STAGE one of {', '.join(STAGES)} and N at least 1,"
            f" got {value!r}"
        )
    return stage, int(count)


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from services.supervisor import StartupError, Supervisor
    from shared.logs import configure_logging

    configure_logging(settings, process="up")
    try:
        return Supervisor(settings, dict(args.scale)).run()
    except StartupError as exc:
        print(f"newsflow: {exc}", file=sys.stderr)
        return 1


def cmd_api(settings: Settings, _: argparse.Namespace) -> int:
    import uvicorn

    from services.api.app import create_app
    from shared.logs import configure_logging

    configure_logging(settings, process="api")
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    import importlib

    from shared.worker import run_stage

    module = importlib.import_module(f"services.{args.stage}.worker")
    return run_stage(STAGES[args.stage], settings, module.create_handler(settings))


def _request(method: str, url: str, **kwargs: Any) -> Any:
    import httpx

    try:
        response = httpx.request(method, url, timeout=30, **kwargs)
    except httpx.HTTPError as exc:
        raise SystemExit(f"newsflow: cannot reach the API at {url}: {exc}") from exc
    if response.status_code >= 400:
        raise SystemExit(f"newsflow: {response.status_code} {response.text}")
    return response.json()


def cmd_submit(settings: Settings, args: argparse.Namespace) -> int:
    base = _api_base(settings, args.api)
    answer = _request("POST", f"{base}/v1/articles", json={"urls": args.urls, "force": args.force})
    articles = answer["articles"]
    for article in articles:
        print(f"{article['id']}  {article['status']:<9}  {article['url']}")
    if not args.wait:
        return 0
    last = {a["id"]: a["status"] for a in articles}
    deadline = time.monotonic() + args.timeout
    while any(status not in TERMINAL for status in last.values()):
        if time.monotonic() > deadline:
            print(f"newsflow: gave up waiting after {args.timeout:g} s", file=sys.stderr)
            return 2
        time.sleep(0.5)
        for ident, previous in last.items():
            if previous in TERMINAL:
                continue
            view = _request("GET", f"{base}/v1/articles/{ident}")
            if view["status"] != previous:
                last[ident] = view["status"]
                detail = view.get("error") or view.get("reason") or ""
                print(f"{ident}  {view['status']:<9}  {view['url']}  {detail or ''}".rstrip())
    return 0 if all(status == "indexed" for status in last.values()) else 1


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    _print_json(_request("GET", f"{_api_base(settings, args.api)}/v1/articles/{args.id}"))
    return 0


def cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    base = _api_base(settings, args.api)
    result = _request("GET", f"{base}/v1/search", params={"q": args.query, "limit": args.limit})
    print(f"{result['total']} result(s)")
    for hit in result["hits"]:
        print(f"- {hit['title']}\n  {hit['url']}\n  {hit['snippet']}")
    return 0


def cmd_clean(settings: Settings, args: argparse.Namespace) -> int:
    import dataclasses

    from services.clean import extract_article
    from shared.errors import NewsflowError

    source: str = args.source
    try:
        if source.startswith(("http://", "https://")):
            html, url = _download(settings, source), source
        else:
            html, url = Path(source).read_text(encoding="utf-8", errors="replace"), None
        article = extract_article(
            html,
            url,
            min_chars=settings.clean_min_chars,
            max_html_chars=settings.clean_max_html_chars,
            max_depth=settings.clean_max_depth,
        )
    except NewsflowError as exc:
        _print_json({"error": exc.reason, "kind": type(exc).__name__})
        return 1
    except OSError as exc:
        raise SystemExit(f"newsflow: cannot read {source}: {exc}") from exc
    _print_json(dataclasses.asdict(article))
    return 0


def _download(settings: Settings, url: str) -> str:
    import asyncio

    from services.fetch import FetchedPage, build_client, fetch_page

    async def run() -> str:
        async with build_client(settings) as client:
            page = await fetch_page(url, client, settings)
            assert isinstance(page, FetchedPage)  # no validators sent: never NotModified
            return page.html

    return asyncio.run(run())


def cmd_extract(settings: Settings, args: argparse.Namespace) -> int:
    from services.extract import analyse

    try:
        raw = Path(args.file).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SystemExit(f"newsflow: cannot read {args.file}: {exc}") from exc
    title, published, language = args.title, args.published, None
    text = raw
    if raw.lstrip()[:200].lower().startswith(("<!doctype html", "<html")):
        from services.clean import extract_article
        from shared.errors import NewsflowError

        try:
            article = extract_article(raw, None, min_chars=settings.clean_min_chars)
        except NewsflowError as exc:
            _print_json({"error": exc.reason, "kind": type(exc).__name__})
            return 1
        text, language = article.text, article.language
        title, published = title or article.title, published or article.published
    found = analyse(title, text, published=published, declared_language=language)
    _print_json({"title": title, "published": published, "text": text, **found.as_json()})
    return 0


def _with_redis(settings: Settings, work: Any) -> Any:
    import asyncio

    from redis.asyncio import Redis

    from shared.redis_client import connect

    async def run() -> Any:
        redis: Redis = connect(settings.redis_url)
        try:
            return await work(redis)
        finally:
            await redis.aclose()

    return asyncio.run(run())


def cmd_dead(settings: Settings, args: argparse.Namespace) -> int:
    import dataclasses

    from shared.dead import DeadLetters
    from shared.errors import NewsflowError

    async def work(redis: Any) -> int:
        letters = DeadLetters(redis)
        if args.action == "list":
            for letter in await letters.list(args.stage, args.limit):
                print(f"{letter.id}  {letter.article_id or '-':<20}  {letter.reason}")
        elif args.action == "show":
            for dead_id in args.ids:
                _print_json(dataclasses.asdict(await letters.get(dead_id)))
        elif args.action == "replay":
            for dead_id in args.ids:
                letter = await letters.replay(dead_id)
                print(f"replayed {dead_id} to {letter.stage} ({letter.article_id or 'no article'})")
        elif args.action == "purge":
            if not args.yes:
                print("newsflow: purge deletes dead letters for good; add --yes", file=sys.stderr)
                return 2
            print(f"deleted {await letters.purge(args.stage)} dead letter(s)")
        return 0

    try:
        code: int = _with_redis(settings, work)
    except NewsflowError as exc:
        print(f"newsflow: {exc.reason}", file=sys.stderr)
        return 1
    return code


def cmd_streams(settings: Settings, _: argparse.Namespace) -> int:
    from shared.dead import stream_stats

    rows = _with_redis(settings, stream_stats)
    header = ("stage", "stream", "length", "pending", "lag", "consumers", "dead", "parked")
    print("{:<8} {:<20} {:>8} {:>8} {:>6} {:>10} {:>6} {:>7}".format(*header))
    for row in rows:
        lag = "-" if row["lag"] is None else row["lag"]
        print(
            f"{row['stage']:<8} {row['stream']:<20} {row['length']:>8} {row['pending']:>8}"
            f" {lag!s:>6} {row['consumers']:>10} {row['dead_letters']:>6} {row['parked']:>7}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsflow", description="News ingestion over Redis Streams."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start Valkey (embedded), the stages and the API")
    up.add_argument(
        "--scale",
        type=parse_scale,
        action="append",
        default=[],
        metavar="STAGE=N",
        help="run N worker processes for STAGE (repeatable), e.g. --scale extract=2",
    )
    up.set_defaults(func=cmd_up)
    commands.add_parser("api", help="run the HTTP API").set_defaults(func=cmd_api)
    worker = commands.add_parser("worker", help="run one pipeline stage")
    worker.add_argument("stage", choices=sorted(STAGES))
    worker.set_defaults(func=cmd_worker)

    submit = commands.add_parser("submit", help="queue URLs for ingestion")
    submit.add_argument("urls", nargs="+", metavar="URL")
    submit.add_argument("--force", action="store_true", help="fetch again even if known")
    submit.add_argument("--wait", action="store_true", help="follow each URL until it ends")
    submit.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (--wait)")
    submit.set_defaults(func=cmd_submit)

    status = commands.add_parser("status", help="show one article's status")
    status.add_argument("id")
    status.set_defaults(func=cmd_status)

    search = commands.add_parser("search", help="search indexed articles")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=10)
    search.set_defaults(func=cmd_search)

    for sub in (submit, status, search):
        sub.add_argument(
            "--api", help="API base URL (default http://NEWSFLOW_API_HOST:NEWSFLOW_API_PORT)"
        )

    dead = commands.add_parser("dead", help="list, show, replay or purge dead letters")
    dead.add_argument("action", choices=["list", "show", "replay", "purge"])
    dead.add_argument("ids", nargs="*", metavar="ID", help="dead letter ids (show, replay)")
    dead.add_argument("--stage", choices=sorted(STAGES), help="only this stage's (list, purge)")
    dead.add_argument("--limit", type=int, default=50)
    dead.add_argument("--yes", action="store_true", help="confirm purge")
    dead.set_defaults(func=cmd_dead)

    commands.add_parser(
        "streams", help="per stage: length, pending, lag, consumers, dead letters, parked URLs"
    ).set_defaults(func=cmd_streams)

    clean = commands.add_parser("clean", help="extract one page's article, print JSON")
    clean.add_argument("source", metavar="FILE_OR_URL")
    clean.set_defaults(func=cmd_clean)

    extract = commands.add_parser(
        "extract",
        help="entities, dateline, quotes, keywords, summary, language of one article, as JSON",
        description="Offsets (entity mentions, quotes, dateline) index into the printed text. "
        "An HTML file is first cleaned as the clean stage would.",
    )
    extract.add_argument("file", help="a text file (the article's clean text) or an HTML page")
    extract.add_argument("--title", help="the article's title")
    extract.add_argument(
        "--published", help="publication date (YYYY-MM-DD): the year of a dateline without one"
    )
    extract.set_defaults(func=cmd_extract)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    try:
        code: int = args.func(settings, args)
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as other commands do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
