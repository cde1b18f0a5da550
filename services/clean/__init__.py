"""clean: the article's main text and metadata, boilerplate removed.

`extract_article(html, url)` does the stage's work without a broker.
"""

from services.clean.extraction import CleanArticle, extract_article

__all__ = ["CleanArticle", "extract_article"]
