"""One settings class for every newsflow process, read from `NEWSFLOW_*` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a newsflow process can be told from outside.

    Each field is read from the environment variable `NEWSFLOW_<FIELD>` (or `.env`).
    """

    model_config = SettingsConfigDict(
        env_prefix="NEWSFLOW_",
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    redis_url: str = Field(
        default="redis://127.0.0.1:6380/0",
        description="Redis or Valkey server. Unset for `newsflow up`: an embedded Valkey starts.",
    )
    data_dir: Path = Field(
        default=Path("data"), description="Embedded Valkey data and SQLite index."
    )
    embedded_redis_port: int = Field(default=6380, ge=1, le=65535)
    index_url: str | None = Field(
        default=None, description="Search index; default sqlite:///<data_dir>/index.db."
    )

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)

    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="OTLP/HTTP collector base URL, e.g. http://jaeger:4318. Unset: no export.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of a worker's /metrics, /health and /ready. Unset: not served.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address the worker's metrics server binds to."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    # Delivery.
    batch_size: int = Field(
        default=8,
        ge=1,
        le=1000,
        description="Entries taken per stream read at most (max_records); a stage handling"
        " more at once (fetch_concurrency, index_batch_size) takes that many.",
    )
    read_linger_ms: int = Field(
        default=200,
        ge=0,
        le=10_000,
        description=(
            "While a stage keeps up with its stream (a read returns less than a full batch),"
            " its reads start at least this far apart, so entries arriving one by one are"
            " handled a few at a time. Adds at most this much latency per stage; 0 reads"
            " again as soon as a read is handled. Extract reads as soon as it is done;"
            " index lingers for index_read_linger_ms instead."
        ),
    )
    claim_idle_ms: int = Field(
        default=120_000,
        ge=1000,
        description="Pending entries idle this long are reclaimed from their consumer.",
    )
    max_deliveries: int = Field(default=5, ge=1, description="Attempts before dead-lettering.")
    trim_interval_seconds: float = Field(
        default=30.0, gt=0, description="How often a stage trims what every group acknowledged."
    )
    ingest_backlog_limit: int = Field(
        default=100_000,
        ge=1,
        description=(
            "Articles waiting anywhere in the pipeline (unread plus pending, summed over"
            " the stages) at which the API answers 429 to new submissions."
        ),
    )

    # Fetch.
    fetch_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Exact host:port pairs allowed although their address is internal.",
    )
    fetch_concurrency: int = Field(
        default=16, ge=1, le=1000, description="Pages downloaded at once by one fetch process."
    )
    fetch_user_agent: str = Field(
        default="newsflow/0.1",
        min_length=1,
        description="User-Agent header; its product token (before `/`) is matched in robots.txt.",
    )
    fetch_connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to connect.")
    fetch_read_timeout: float = Field(
        default=15.0, gt=0, description="Seconds to wait for each read of the response."
    )
    fetch_total_timeout: float = Field(
        default=30.0, gt=0, description="Seconds for a whole page, redirects included."
    )
    fetch_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Cap on body bytes received."
    )
    fetch_max_decoded_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1024,
        description="Cap on body bytes after undoing gzip, deflate, br and zstd.",
    )
    fetch_max_redirects: int = Field(default=5, ge=0, le=30)
    fetch_host_interval: float = Field(
        default=1.0,
        ge=0,
        description="Seconds between requests to one host, shared by every fetch process.",
    )
    fetch_max_crawl_delay: float = Field(
        default=30.0, ge=0, description="A robots.txt Crawl-delay is honoured up to this."
    )
    fetch_host_wait: float = Field(
        default=2.0,
        ge=0,
        description="Longest the fetch stage waits for a host's request slot; past it the URL "
        "is parked in Redis until the host is free (no delivery counted) and other hosts' URLs "
        "go ahead.",
    )
    fetch_max_wait: float = Field(
        default=60.0,
        ge=0,
        description="Longest wait inside a fetch (host slot, Retry-After, backoff); a longer "
        "one leaves the entry for redelivery. Keep it well below claim_idle_ms.",
    )
    fetch_delivery_timeout: float = Field(
        default=90.0,
        gt=0,
        description="Seconds one delivery may spend on a URL, waits and retries included; "
        "past it the entry is left for a later delivery. Keep it below claim_idle_ms.",
    )
    # With NEWSFLOW_MAX_DELIVERIES attempts, a server that keeps asking to wait (or a
    # robots.txt that keeps failing) ends the URL `failed` within about ten minutes.
    fetch_retry_after_max: float = Field(
        default=120.0, ge=0, description="A server's Retry-After is honoured up to this."
    )
    fetch_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries within one delivery for 5xx and network errors.",
    )
    fetch_backoff_base: float = Field(
        default=1.0, ge=0, description="First backoff in seconds; doubles per retry, jittered."
    )
    fetch_robots: bool = Field(default=True, description="Obey robots.txt.")
    fetch_robots_ttl: int = Field(
        default=24 * 3600, ge=1, description="Seconds a fetched robots.txt is cached in Redis."
    )
    fetch_robots_error_ttl: int = Field(
        default=120,
        ge=1,
        description="Seconds a host whose robots.txt failed (5xx, unreachable) stays disallowed.",
    )
    fetch_robots_max_bytes: int = Field(
        default=512 * 1024, ge=1024, description="robots.txt beyond this is ignored."
    )
    html_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)

    # Index.
    index_batch_size: int = Field(
        default=32, ge=1, le=1000, description="Articles written per index transaction at most."
    )
    index_read_linger_ms: int = Field(
        default=600,
        ge=0,
        le=10_000,
        description=(
            "read_linger_ms for the index stage. Its articles arrive one by one from extract,"
            " and the last stage's latency costs least: a longer linger writes them a few more"
            " at a time, for about a third less CPU per article than at 200 ms."
        ),
    )

    # Clean.
    clean_min_chars: int = Field(default=250, ge=0, description="Shorter texts are not articles.")
    clean_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        description="A page whose cleaning takes longer fails with the reason; keep it well "
        "under claim_idle_ms.",
    )
    clean_memory_mb: int = Field(
        default=1024,
        ge=0,
        description="Address-space cap of the process that cleans pages (0: none).",
    )
    clean_max_html_chars: int = Field(
        default=5_000_000, ge=1000, description="Larger pages are not cleaned (skipped)."
    )
    clean_max_depth: int = Field(
        default=180, ge=10, le=250, description="Pages nesting elements deeper are skipped."
    )

    # Extract.
    extract_duplicate_similarity: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Estimated shingle similarity at which an article is a copy of an earlier one.",
    )
    extract_story_similarity: float = Field(
        default=0.34,
        gt=0,
        le=1,
        description="Entity and keyword similarity at which two articles are one story.",
    )
    extract_story_window_days: int = Field(
        default=14,
        ge=0,
        description="Articles published further apart than this many days are never one story.",
    )
    extract_retention_days: float = Field(
        default=30,
        gt=0,
        description=(
            "The extract stage forgets an article's fingerprint and story features this many "
            "days after recording them, and an alias this long after its last use."
        ),
    )
    extract_math_threads: int = Field(
        default=1,
        ge=1,
        description=(
            "Threads the extract stage's numeric library (BLAS) may use. The stage scales by "
            "processes; more threads per process mostly spin on a busy machine."
        ),
    )

    @field_validator("fetch_allow", mode="before")
    @classmethod
    def _split_host_ports(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("fetch_allow")
    @classmethod
    def _check_host_ports(cls, value: list[str]) -> list[str]:
        for item in value:
            host, sep, port = item.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"fetch_allow entry {item!r} is not host:port")
        return value

    @property
    def redis_is_external(self) -> bool:
        """True when the Redis URL was given explicitly rather than defaulted."""
        return "redis_url" in self.model_fields_set

    @property
    def search_index_url(self) -> str:
        return self.index_url or f"sqlite:///{(self.data_dir / 'index.db').resolve()}"
