"""The error tree every stage raises from.

    NewsflowError
     ├── RetryableError   left pending; redelivered later, dead-lettered after N attempts
     └── PermanentError   dead-lettered at once with its reason; the article ends `failed`
          └── NotAnArticle  not an error of the page: the article ends `skipped`

Each carries `reason`, the sentence a user reads in the article's status.
"""

from __future__ import annotations


class NewsflowError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryableError(NewsflowError):
    """A passing fault: the network, a 5xx, a busy server. Try again later.

    `retry_after` is the earliest sensible retry in seconds, when the fault says so
    (a server's Retry-After, a host's politeness slot).
    """

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentError(NewsflowError):
    """Trying again cannot help: a bad URL, a refused address, a page too large."""


class NotAnArticle(PermanentError):
    """The page is fine but holds no article: a list page, a PDF, too little text."""
