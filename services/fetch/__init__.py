"""fetch: download pages safely and politely, and store their HTML for the clean stage."""

from services.fetch.decoding import decode_content, decode_html
from services.fetch.fetcher import FetchedPage, NotModified, Validators, fetch_page
from services.fetch.guard import AddressGuard, AddressRefused, is_public_address
from services.fetch.transport import build_client

__all__ = [
    "AddressGuard",
    "AddressRefused",
    "FetchedPage",
    "NotModified",
    "Validators",
    "build_client",
    "decode_content",
    "decode_html",
    "fetch_page",
    "is_public_address",
]
