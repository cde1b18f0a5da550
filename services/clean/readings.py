"""trafilatura's readings of one page, sharing the pruning every reading starts with.

`trafilatura.bare_extraction` copies the page and prunes infinite-scroll containers and
comment sections from it before it reads; the stage's two readings (precise and broad) prune
alike. Here the page is pruned once, in place, and each reading goes on from the pruned tree:
the steps of trafilatura 2.3.1's `trafilatura_sequence` for a page read without comments.
Thread-forum pages, where trafilatura keeps comments as posts, take `bare_extraction`
itself. tests/unit/test_clean_readings.py checks the text is `bare_extraction`'s.
"""

from __future__ import annotations

from copy import copy

import trafilatura
from lxml.html import HtmlElement
from trafilatura.baseline import baseline
from trafilatura.core import _extract_and_compare, _forum_thread_page, _prepare_tree
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.settings import Extractor
from trafilatura.xml import xmltotxt
from trafilatura.xpaths import (
    RAW_TREE_PRUNE_XPATH,
    REMOVE_COMMENTS_AND_LISTS_XPATH,
    REMOVE_COMMENTS_XPATH,
)

# Built once: reading the configuration is a measurable share of a small page's time.
PRECISE = Extractor(output_format="python", precision=True, comments=False, tables=True)
BROAD = Extractor(output_format="python", recall=True, fast=True, comments=False, tables=True)


class Readings:
    """The readings of one page. Prunes `tree` in place: read its metadata first."""

    def __init__(self, tree: HtmlElement, url: str | None) -> None:
        self._url = url
        self._forum = bool(_forum_thread_page(tree))
        self._tree = tree
        if not self._forum:
            prune_unwanted_nodes(tree, RAW_TREE_PRUNE_XPATH)
            prune_unwanted_nodes(tree, REMOVE_COMMENTS_AND_LISTS_XPATH)

    def read(self, options: Extractor) -> str:
        """The page's main text as trafilatura reads it with `options`."""
        options = copy(options)
        options.url = options.source = self._url
        if self._forum:
            return self._bare(options)
        cleaned, backup = _prepare_tree(self._tree, options, self._url)
        if options.focus == "precision":
            cleaned = prune_unwanted_nodes(cleaned, REMOVE_COMMENTS_XPATH)
        body, text = _extract_and_compare(cleaned, backup, self._tree, options)
        if len(text) < options.min_extracted_size and options.focus != "precision":
            rescued, rescued_text, rescued_length = baseline(self._tree)
            if rescued_length > len(text):
                body, text = rescued, rescued_text
        if len(text) < options.min_output_size:
            return ""
        return str(xmltotxt(body, options.formatting) or "")

    def _bare(self, options: Extractor) -> str:
        document = trafilatura.bare_extraction(self._tree, url=self._url, options=options)
        return str(getattr(document, "text", None) or "")
