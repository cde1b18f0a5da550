"""fetch: download pages safely and store their HTML for the clean stage."""

from services.fetch.fetcher import FetchedPage, decode_html, fetch_page
from services.fetch.guard import AddressGuard, AddressRefused, is_public_address

__all__ = [
    "AddressGuard",
    "AddressRefused",
    "FetchedPage",
    "decode_html",
    "fetch_page",
    "is_public_address",
]
