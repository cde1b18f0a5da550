"""Clean-stage benchmark: newsflow's extraction and plain trafilatura on the same pages.

    mkdir -p /tmp/trafeval && tar xzf ../shared/datasets/trafilatura-eval-*.tgz -C /tmp/trafeval
    .venv/bin/python benchmarks/extraction.py --corpus /tmp/trafeval

The corpus directory holds `evaldata.json` (URL -> {"file", "with", "without"}) and the pages
under `eval/` or `cache/`. Scoring as the corpus defines it: whitespace is normalised; each
`with` snippet found is a true positive, each one missing a false negative; each `without`
snippet found a false positive; counts are summed over all pages; F1 = 2TP / (2TP + FP + FN).
A page newsflow answers "not an article" counts as an empty extraction (every `with` snippet
missing). Both extractors see the same decoded text, page by page in the same process, and
their times are per page on one core: wall clock (median, p95) and CPU time of the
extracting thread (median), which other processes on a shared machine disturb less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trafilatura

from services.clean import extract_article
from services.clean.pool import ExtractionLimits, ExtractionPool
from services.fetch.fetcher import decode_html
from shared.errors import NotAnArticle, PermanentError

_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    millis: list[float] = field(default_factory=list)
    cpu_millis: list[float] = field(default_factory=list)
    cpu_in_this_thread: bool = True
    empty: Counter[str] = field(default_factory=Counter)

    def add(self, item: dict[str, list[str]], text: str) -> tuple[int, int]:
        found = _norm(text)
        tp = sum(_norm(s) in found for s in item["with"])
        fp = sum(_norm(s) in found for s in item["without"])
        self.tp += tp
        self.fp += fp
        self.fn += len(item["with"]) - tp
        self.tn += len(item["without"]) - fp
        return tp, fp

    def row(self, name: str) -> str:
        precision = self.tp / max(1, self.tp + self.fp)
        recall = self.tp / max(1, self.tp + self.fn)
        f1 = 2 * self.tp / max(1, 2 * self.tp + self.fp + self.fn)
        ordered = sorted(self.millis)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        cpu = f"{statistics.median(self.cpu_millis):8.1f}" if self.cpu_in_this_thread else "-"
        return (
            f"{name:<22} {precision:9.3f} {recall:7.3f} {f1:7.3f} "
            f"{statistics.median(ordered):8.1f} {p95:8.1f} {cpu:>8}  {sum(self.empty.values()):5d}"
        )


def run_newsflow(html: str, url: str) -> tuple[str, str | None]:
    try:
        return extract_article(html, url).text, None
    except NotAnArticle as exc:
        return "", exc.reason


def run_trafilatura(html: str, url: str) -> tuple[str, str | None]:
    text = trafilatura.extract(html, url=url, include_comments=False, include_tables=True)
    return (text, None) if text else ("", "no text")


Extractor = Callable[[str, str], tuple[str, str | None]]
EXTRACTORS: dict[str, Extractor] = {"newsflow": run_newsflow, "trafilatura": run_trafilatura}


def in_child_process(loop: asyncio.AbstractEventLoop, pool: ExtractionPool) -> Extractor:
    """newsflow as the stage runs it: in its child process, with the time limit."""

    def run(html: str, url: str) -> tuple[str, str | None]:
        try:
            return loop.run_until_complete(pool.extract(html, url)).text, None
        except PermanentError as exc:
            return "", exc.reason

    return run


def _page(corpus: Path, name: str) -> Path | None:
    for folder in ("cache", "eval"):
        if (path := corpus / folder / name).is_file():
            return path
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="unpacked evaluation corpus")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N pages")
    parser.add_argument(
        "--process",
        action="store_true",
        help="also run newsflow in its child process, as the stage does (overhead of the pool)",
    )
    parser.add_argument(
        "--losses", type=Path, help="write per-page differences between the two as JSON lines"
    )
    args = parser.parse_args()

    evaldata: dict[str, dict[str, list[str]]] = json.loads(
        (args.corpus / "evaldata.json").read_text(encoding="utf-8")
    )
    urls = sorted(evaldata)[: args.limit or None]
    extractors = dict(EXTRACTORS)
    loop = asyncio.new_event_loop()
    pool = ExtractionPool(
        ExtractionLimits(min_chars=250, max_html_chars=5_000_000, max_depth=180),
        timeout=20,
        memory_mb=1024,
    )
    if args.process:
        loop.run_until_complete(pool.start())
        extractors["newsflow in process"] = in_child_process(loop, pool)
    scores = {name: Score() for name in extractors}
    if args.process:  # the work happens in the child: this thread's CPU time says nothing
        scores["newsflow in process"].cpu_in_this_thread = False
    losses = args.losses.open("w", encoding="utf-8") if args.losses else None
    for url in urls:
        item = evaldata[url]
        path = _page(args.corpus, str(item["file"]))
        if path is None:
            print(f"missing page for {url}: {item['file']}", file=sys.stderr)
            continue
        html = decode_html(path.read_bytes(), None)
        per_page: dict[str, tuple[int, int, str | None]] = {}
        for name, run in extractors.items():
            started, cpu_started = time.perf_counter(), time.thread_time()
            text, why_empty = run(html, url)
            scores[name].millis.append((time.perf_counter() - started) * 1000)
            scores[name].cpu_millis.append((time.thread_time() - cpu_started) * 1000)
            if why_empty:
                scores[name].empty[why_empty.split(" (")[0]] += 1
            tp, fp = scores[name].add(item, text)
            per_page[name] = (tp, fp, why_empty)
        if losses and per_page["newsflow"][:2] != per_page["trafilatura"][:2]:
            losses.write(json.dumps({"url": url, "file": item["file"], **per_page}) + "\n")

    print(f"{len(urls)} pages from {args.corpus}")
    print(
        f"{'extractor':<22} {'precision':>9} {'recall':>7} {'F1':>7} "
        f"{'ms p50':>8} {'ms p95':>8} {'cpu p50':>8}  empty"
    )
    for name, score in scores.items():
        print(score.row(name))
    ratio = statistics.median(scores["newsflow"].cpu_millis) / max(
        1e-9, statistics.median(scores["trafilatura"].cpu_millis)
    )
    print(f"CPU ms p50, newsflow / trafilatura: {ratio:.2f} (compare runs by this ratio)")
    for name, score in scores.items():
        if score.empty:
            reasons = ", ".join(f"{why}: {n}" for why, n in score.empty.most_common())
            print(f"{name} empty answers: {reasons}")
    if losses:
        losses.close()
    loop.run_until_complete(pool.close())
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
