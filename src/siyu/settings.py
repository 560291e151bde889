"""Configuration from the environment (SIYU_*), with embedded defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")


class Settings(BaseSettings):
    """All settings; each is read from SIYU_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="SIYU_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{VAR_DIR / 'siyu.db'}",
        description="SQLAlchemy URL of the transactional store (SQLite file or postgresql+psycopg://…).",
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL for shared rate limits; in-process limits when unset."
    )
    token_ttl_hours: int = Field(default=12, ge=1, le=24 * 30, description="Lifetime of sign-in tokens.")
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description="Cap on JSON request bodies.")
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, description="Cap on import uploads.")
    sign_in_attempts: int = Field(default=10, ge=1, description="Failed sign-ins allowed per window.")
    sign_in_window_s: int = Field(default=900, ge=1, description="Window for failed sign-in counting.")
    log_sql: bool = Field(default=False, description="Echo SQL statements.")
    secret_key: str | None = Field(
        default=None,
        description="Key that encrypts stored secrets (WeCom tokens and keys). Set it in production; when "
        "unset, a random key is created once in var/secret.key (development).",
    )
    rule_tag_refresh_minutes: int = Field(
        default=60,
        ge=0,
        le=24 * 60,
        description="How often the server refreshes rule tags and sweeps lapsed tags (0: never; order "
        "batches and refunds also bring a brand's refresh forward).",
    )
    workers: Literal["in-process", "external"] = Field(
        default="in-process",
        description="Where background jobs run: in the server (embedded default) or in separate "
        "`siyu worker` processes (production; the server then runs none).",
    )
    worker_threads: int = Field(default=2, ge=1, le=32, description="Job threads per process.")
    wecom_api_base: str = Field(
        default="https://qyapi.weixin.qq.com/cgi-bin",
        description="WeCom's server API (the fake WeCom's URL in tests and the offline demo).",
    )
    gc_tuning: bool = Field(
        default=True,
        description="Freeze start-up objects out of the garbage collector and collect less often "
        "(measured: batch order ingest spends a third of its time in collections otherwise).",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process settings (cached)."""
    return Settings()


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url
