"""Settings from the environment, in one place.

Every setting is an ``OPENREVOX_*`` environment variable (LLM providers' keys and URLs keep their
usual names, e.g. ``OPENAI_API_KEY``); a bad value fails at start-up with a
message that names the variable and what to fix.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENREVOX_", extra="ignore")

    data_dir: Path = Field(Path(".openrevox"), description="Where the SQLite file and recordings live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file under the data dir."
    )
    db_pool_size: int = Field(10, ge=1, description="Database connections per process (doubled under bursts).")
    api_key: str | None = Field(
        None, description="Ensure this API key exists for the default organization at start-up."
    )
    default_organization: str = Field("default", description="Name of the default organization.")
    default_from_number: str = Field(
        "+12025550199", description="Caller id used when an order names none (sandbox carrier)."
    )
    org_concurrency_limit: int = Field(
        20, ge=1, description="Live attempts allowed at once per organization."
    )
    lease_seconds: float = Field(
        15.0, gt=0, description="How long a process holds an attempt without renewing it."
    )
    dispatch_interval: float = Field(0.2, gt=0, description="Seconds between dispatcher passes.")
    dispatch_batch: int = Field(100, ge=1, description="Due orders claimed per pass at most.")
    max_live_calls: int | None = Field(
        None,
        ge=0,
        description="Live attempts this process holds at once at most; unset: no limit of its own; 0: it runs no "
        "calls (an API process beside `openrevox worker --port` processes that run them).",
    )
    drain_seconds: float = Field(
        600.0,
        ge=0,
        description="How long a process told to stop (SIGTERM, Ctrl+C) lets its live calls go on, taking no new "
        "one, before it hangs up on them; a second signal hangs up at once. 0: at once.",
    )
    sandbox_speed: float = Field(1.0, gt=0, description="Sandbox ring and talk times are divided by this.")
    sandbox_personas: Path | None = Field(None, description="YAML or JSON file of extra sandbox personas.")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Largest request body accepted.")
    allow_private_webhooks: bool = Field(
        False, description="Let webhook_url reach loopback, private, link-local and metadata addresses."
    )
    webhook_retry_base_seconds: float = Field(
        5.0, gt=0, description="First webhook retry delay; doubled on each failure (with jitter), up to an hour."
    )
    webhook_retry_for_seconds: float = Field(
        86_400.0, gt=0, description="How long a failing webhook is retried before it is marked failed."
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="Time a webhook receiver has to answer.")
    webhook_interval: float = Field(0.5, gt=0, description="Seconds between webhook deliverer passes.")
    pipecat_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "WARNING", description="Level of Pipecat's own logs (loguru, on stderr): DEBUG shows every frame hop."
    )
    # Real carriers: Twilio when its two credentials are set, else Telnyx when its key is, else the sandbox.
    public_url: str | None = Field(
        None,
        description="https://host the carriers reach for webhooks (required with one), and for media websockets "
        "unless OPENREVOX_MEDIA_URL is set.",
    )
    media_url: str | None = Field(
        None,
        description="Where the carriers reach this process's media websockets (default: the public URL), so "
        "that each call's audio comes to the process that dialed it.",
    )
    twilio_account_sid: str | None = Field(None, validation_alias=AliasChoices("TWILIO_ACCOUNT_SID", "twilio_account_sid"))
    twilio_auth_token: str | None = Field(None, validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "twilio_auth_token"))
    twilio_api_url: str = Field("https://api.twilio.com", description="Twilio REST root (a proxy or a test fake).")
    telnyx_api_key: str | None = Field(None, validation_alias=AliasChoices("TELNYX_API_KEY", "telnyx_api_key"))
    telnyx_connection_id: str | None = Field(
        None, validation_alias=AliasChoices("TELNYX_CONNECTION_ID", "telnyx_connection_id")
    )
    telnyx_public_key: str | None = Field(None, validation_alias=AliasChoices("TELNYX_PUBLIC_KEY", "telnyx_public_key"))
    telnyx_api_url: str = Field("https://api.telnyx.com", description="Telnyx REST root (a proxy or a test fake).")
    carrier_timeout_seconds: float = Field(10.0, gt=0, description="Time a carrier's REST API has to answer.")
    # LLM endpoints (openrevox.llm): the providers' own variable names where they have one.
    openai_base_url: str | None = Field(
        None, validation_alias="OPENAI_BASE_URL", description="OpenAI-compatible endpoint for gpt-4.1."
    )
    openai_api_key: str | None = Field(
        None, validation_alias="OPENAI_API_KEY", description="Key for OPENAI_BASE_URL (or OpenAI itself)."
    )
    ministral_base_url: str | None = Field(
        None, description="OpenAI-compatible server (vLLM, llama.cpp) for ministral-3-8b-instruct."
    )
    ministral_api_key: str | None = Field(None, description="Key for the Ministral server, if it asks for one.")
    ministral_model: str = Field(
        "ministral-3-8b-instruct", description="The model name the Ministral server serves it under."
    )
    openrouter_base_url: str = Field(
        "https://openrouter.ai/api/v1",
        validation_alias=AliasChoices("OPENROUTER_BASE_URL", "OPENREVOX_OPENROUTER_BASE_URL"),
        description="OpenRouter's API (overridable for a proxy or a test server).",
    )
    openrouter_api_key: str | None = Field(
        None, validation_alias="OPENROUTER_API_KEY", description="Key for OpenRouter models."
    )
    # Calendly (openrevox.agent.calendly): one token per installation, whatever the assistant's connection_id.
    calendly_token: SecretStr | None = Field(
        None, description="Calendly personal access token the agent's calendly tools use; unset: no calendly tools."
    )
    calendly_base_url: str = Field("https://api.calendly.com", description="Calendly API root (a proxy or a test fake).")
    secret_key: SecretStr | None = Field(
        None, min_length=16, description="Signs recording links; default: a random key kept in the data dir."
    )
    recording_link_seconds: float = Field(3600.0, gt=0, description="How long a recording link stays valid.")

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, url: str | None) -> str | None:
        if url is None:
            return None
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            # The async engine needs an async driver; psycopg 3 is the one we ship.
            return "postgresql+psycopg://" + url.split("://", 1)[1]
        if url.startswith("sqlite://"):
            return "sqlite+aiosqlite://" + url.split("://", 1)[1]
        if not (url.startswith("postgresql+psycopg://") or url.startswith("sqlite+aiosqlite://")):
            raise ValueError(
                "OPENREVOX_DATABASE_URL must be postgresql+psycopg://... or sqlite:///path.db"
            )
        return url

    @field_validator("public_url")
    @classmethod
    def _web_address(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http://)")
        return url

    @field_validator("media_url")
    @classmethod
    def _websocket_address(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must start with wss:// or https:// (or ws://, http://)")
        return url

    @model_validator(mode="after")
    def _carrier_reachable(self) -> Settings:
        if self.carrier != "sandbox" and not self.public_url:
            raise ValueError(
                f"OPENREVOX_PUBLIC_URL must be set with the {self.carrier} carrier: the https:// address "
                "where it reaches this server's webhooks and media websockets"
            )
        if self.carrier == "telnyx" and not (self.telnyx_connection_id and self.telnyx_public_key):
            raise ValueError("TELNYX_CONNECTION_ID and TELNYX_PUBLIC_KEY must be set with TELNYX_API_KEY")
        return self

    @property
    def carrier(self) -> str:
        if self.twilio_account_sid and self.twilio_auth_token:
            return "twilio"
        return "telnyx" if self.telnyx_api_key else "sandbox"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'openrevox.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
