"""Configuration in one place: every setting is a ``RESONANZ_*`` environment variable.

The defaults are the embedded default (embedded broker, SQLite under ``.resonanz/``); production sets
``RESONANZ_KAFKA_BOOTSTRAP`` and ``RESONANZ_DATABASE_URL`` and nothing else is required.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings shared by every role. Read once per process through :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="RESONANZ_", extra="ignore", frozen=True)

    kafka_bootstrap: str = Field(
        default="",
        description="Kafka bootstrap servers (host:port,...). Empty: start the embedded Tansu broker.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL (postgresql+asyncpg://... or sqlite+aiosqlite:///...). "
        "Empty: one SQLite file per service under data_dir.",
    )
    data_dir: Path = Field(default=Path(".resonanz"), description="Where embedded state is kept.")
    plugins: str | None = Field(
        default=None,
        description="Comma-separated network plugin names to load; unset loads all installed, "
        "empty loads none.",
    )
    grpc_host: str = Field(default="127.0.0.1", description="Interface the gRPC servers bind to.")
    publishing_port: int = Field(default=50051, ge=0, le=65535)
    listening_port: int = Field(default=50052, ge=0, le=65535)
    scoring_port: int = Field(default=50053, ge=0, le=65535)
    metrics_port: int = Field(default=9464, ge=0, le=65535, description="Prometheus /metrics; 0 disables.")
    topic_prefix: str = Field(default="", description="Prepended to every Kafka topic name.")
    consumer_group_prefix: str = Field(default="resonanz", description="Prefix of consumer group ids.")
    simulated_seed: int = Field(default=42, description="Seed of the simulated network.")
    simulated_speed: float = Field(
        default=1.0, gt=0, description="Simulated seconds per real second in the simulated network."
    )
    poll_interval_seconds: float = Field(default=2.0, gt=0, description="Listening poll interval.")
    dispatch_interval_seconds: float = Field(default=1.0, gt=0, description="Dispatcher tick.")
    log_level: str = Field(default="INFO")
    log_json: bool = Field(default=False, description="Structured JSON logs instead of plain text.")
    publish_max_attempts: int = Field(
        default=5, ge=1, description="Network calls per publish target before it is marked FAILED."
    )
    publish_backoff_base_seconds: float = Field(
        default=1.0, gt=0, description="First retry delay of a publish; doubles per attempt (with jitter)."
    )
    publish_backoff_max_seconds: float = Field(
        default=60.0, gt=0, description="Cap of one publish retry delay."
    )
    watch_poll_interval_seconds: float = Field(
        default=2.0, gt=0, description="WatchPost re-reads the post this often (changes from other replicas)."
    )
    publishing_addr: str | None = Field(
        default=None,
        description="host:port clients call publishing at; unset means grpc_host:publishing_port.",
    )
    listening_addr: str | None = Field(
        default=None,
        description="host:port clients call listening at; unset means grpc_host:listening_port.",
    )
    scoring_addr: str | None = Field(
        default=None,
        description="host:port clients call scoring at; unset means grpc_host:scoring_port.",
    )
    tenant: str = Field(default="default", description="Tenant the CLI and other clients act for.")
    actor: str = Field(
        default="",
        description="User the CLI and other clients act as (x-resonanz-actor); empty: the login name.",
    )

    credential_keys: SecretStr = Field(
        default=SecretStr(""),
        description="Comma-separated Fernet keys for account credentials at rest; the first encrypts, "
        "all decrypt (rotation: put the new key first, run 'resonanz accounts rotate-keys', drop the old).",
    )
    credential_keys_file: Path | None = Field(
        default=None,
        description="File holding the credential keys (one per line or comma-separated), e.g. a mounted "
        "Kubernetes secret; read instead of RESONANZ_CREDENTIAL_KEYS.",
    )
    media_store: str = Field(default="local", description="Where uploaded media live: 'local' or 's3'.")
    media_dir: Path | None = Field(
        default=None, description="Directory of the local media store; unset means data_dir/media."
    )
    media_max_bytes: int = Field(
        default=512 * 1024 * 1024, gt=0, description="Largest media upload accepted, in bytes."
    )
    s3_endpoint_url: str = Field(
        default="", description="S3-compatible endpoint (MinIO, Ceph, R2, ...); empty: AWS S3."
    )
    s3_bucket: str = Field(default="", description="Bucket of the S3 media store.")
    s3_region: str = Field(default="us-east-1", description="Region of the S3 media store.")
    s3_access_key_id: SecretStr = Field(default=SecretStr(""), description="S3 access key id.")
    s3_secret_access_key: SecretStr = Field(default=SecretStr(""), description="S3 secret access key.")
    s3_prefix: str = Field(default="media/", description="Key prefix of stored media in the bucket.")
    s3_url_expiry_seconds: int = Field(
        default=3600, gt=0, description="Lifetime of the presigned URLs network plugins fetch media from."
    )
    publishing_roles: str = Field(
        default="api,dispatcher,worker",
        description="Which parts of the publishing service this process runs (comma-separated: api, "
        "dispatcher, worker); every process serves gRPC health. The dispatcher role also runs the "
        "sweeper; dispatcher and worker both relay the outbox.",
    )
    scoring_roles: str = Field(
        default="api,worker",
        description="Which parts of the scoring service this process runs (comma-separated: api, worker).",
    )
    # -- scoring: the faust-streaming app (services/scoring/README.md, docs/scoring/streaming.md) --
    scoring_batch_size: int = Field(
        default=1000, ge=1, le=100_000, description="Most mentions the scoring agent takes per batch."
    )
    scoring_batch_seconds: float = Field(
        default=0.2, gt=0, le=60, description="Longest the scoring agent waits to fill a batch."
    )
    scoring_rebalance_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="faust broker_rebalance_timeout of the scoring app (the embedded broker joins a group in "
        "about half of it; Kafka clusters with many members may want 30-60).",
    )
    scoring_session_timeout_seconds: float = Field(
        default=10.0, gt=0, description="faust broker_session_timeout of the scoring app."
    )
    scoring_heartbeat_seconds: float = Field(
        default=1.0,
        gt=0,
        description="faust broker_heartbeat_interval (below a third of the session timeout).",
    )
    scoring_commit_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often the scoring app commits the offsets of acknowledged batches.",
    )
    scoring_max_attempts: int = Field(
        default=3,
        ge=1,
        description="Tries of a failing scoring batch, then of each of its events, before "
        "an event is dead-lettered.",
    )
    scoring_producer_max_batch_bytes: int = Field(
        default=16384,
        ge=1,
        description="Largest record batch of the scoring app's faust producer (changelogs, internal "
        "topics). The embedded runner sets 1 (one record per batch): Tansu reports a partition's end "
        "as the base offset of its last batch + 1, so faust's table recovery would miss the rest of "
        "that batch.",
    )
    scoring_topic_replication_factor: int = Field(
        default=1,
        ge=1,
        description="Replication factor of the topics the scoring app's faust declares itself (table "
        "changelogs, internal topics) when they do not exist yet. 1 suits the embedded broker; a "
        "production Kafka cluster wants 3 (the Helm chart sets it), or one broker loss loses table state.",
    )
    kafka_security_protocol: str = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: str = Field(
        default="", description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with a SASL_* protocol)."
    )
    kafka_sasl_username: str = Field(default="", description="SASL user name.")
    kafka_sasl_password: SecretStr = Field(default=SecretStr(""), description="SASL password.")
    kafka_ssl_cafile: Path | None = Field(default=None, description="CA bundle that signs the brokers.")
    kafka_ssl_certfile: Path | None = Field(default=None, description="Client certificate (mutual TLS).")
    kafka_ssl_keyfile: Path | None = Field(default=None, description="Client key (mutual TLS).")
    otel_exporter_otlp_endpoint: str = Field(
        default="",
        description="OTLP/gRPC endpoint (e.g. http://otel-collector:4317) traces are exported to; "
        "empty: no export (trace context is still propagated).",
    )
    otel_service_name: str = Field(
        default="", description="service.name of exported spans; empty: resonanz-<role>."
    )
    publish_inline_retry_max_seconds: float = Field(
        default=5.0,
        ge=0,
        description="A retry due within this many seconds waits in the worker; a later one is handed "
        "back to the dispatcher (the request is acknowledged and re-sent when due).",
    )
    publish_stale_after_seconds: float = Field(
        default=900.0,
        gt=0,
        description="A target left PUBLISHING this long (its worker died) is re-queued; the retry asks "
        "the network whether the earlier attempt went through before publishing.",
    )

    simulated_brands: str = Field(
        default="Resonanz,Klangwerk",
        description="Comma-separated brand names the simulated network's people talk about.",
    )
    simulated_faults: str = Field(
        default="",
        description="Fault injection for the simulated network (tests): comma-separated "
        "'operation:kind:count[:retry_after]', e.g. 'publish:rate_limited:2:30,search:transient:1'.",
    )
    simulated_retention: int = Field(
        default=20_000, ge=100, description="Posts the simulated network keeps; older ones are forgotten."
    )
    simulated_activity: float = Field(
        default=1.0, gt=0, description="Multiplier of the simulated network's organic posting rate."
    )

    # -- scoring: crisis alerts (docs/scoring/aggregates.md) -----------------------------------
    alert_bucket_seconds: float = Field(
        default=120.0,
        ge=1,
        description="Length of the buckets negative volume, volume and negative reach are counted in.",
    )
    alert_z_threshold: float = Field(
        default=4.0,
        gt=0,
        description="A bucket this many (EWMA) standard deviations above its baseline spikes.",
    )
    alert_min_negative: int = Field(
        default=5,
        ge=1,
        description="Fewest negative mentions in a bucket before any alert is raised for it.",
    )
    alert_ewma_alpha: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Weight of the newest bucket in the EWMA baseline (mean and variance).",
    )
    alert_warmup_buckets: int = Field(
        default=8, ge=1, description="Closed buckets a label needs before it can raise an alert."
    )
    alert_cooldown_buckets: int = Field(
        default=10,
        ge=1,
        description="After an alert, buckets that must stay below the threshold before the label re-arms.",
    )
    alert_corroboration_z: float = Field(
        default=3.0,
        ge=0,
        description="A reach or volume spike alerts only when negative mentions are this many standard "
        "deviations above their baseline too.",
    )
    alert_grace_seconds: float = Field(
        default=15.0,
        ge=0,
        description="A bucket is closed this long after it ends (late mentions still count).",
    )
    alert_tick_seconds: float = Field(
        default=5.0, gt=0, description="How often idle labels' buckets are closed by the clock."
    )

    # -- listening collection (leases, paging, rate limits, backfill) ---------------------------
    replica_id: str = Field(
        default="",
        description="This replica's id in collection leases; empty: hostname-pid-random (unique per start).",
    )
    lease_ttl_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A collection lease (and a replica heartbeat) expires this long after its last "
        "renewal; another replica takes a dead replica's queries over after about this long.",
    )
    lease_renew_seconds: float = Field(
        default=3.0, gt=0, description="How often a listening replica renews its leases and heartbeat."
    )
    listening_page_budget: int = Field(
        default=10, ge=1, description="Most search pages per (query, network) and poll round."
    )
    listening_page_size: int = Field(
        default=100, ge=1, le=1000, description="Mentions asked for per search page."
    )
    listening_max_backoff_seconds: float = Field(
        default=300.0, gt=0, description="Cap of a (query, network)'s back-off after failures."
    )
    backfill_concurrency: int = Field(
        default=2, ge=1, description="Backfill jobs one listening replica runs at a time."
    )

    mention_retention_days: int = Field(
        default=395,
        ge=1,
        description="Listening keeps mentions published within this many days; older ones are pruned "
        "and, when collected again, not stored (so never sent to mentions.raw twice).",
    )
    retention_interval_seconds: float = Field(
        default=3600.0, gt=0, description="How often the listening pruner looks for expired mentions."
    )
    retention_batch_size: int = Field(
        default=1000, ge=1, le=100_000, description="Mentions the pruner deletes per transaction."
    )
    engagement_schedule: str = Field(
        default="300,900,3600,21600,86400,259200,604800",
        description="Seconds after a post's publication at which listening refreshes its engagement "
        "(comma-separated, increasing); after the last one the post is no longer tracked.",
    )
    engagement_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often the engagement tracker looks for due posts."
    )
    engagement_batch_size: int = Field(
        default=100, ge=1, le=1000, description="Post ids per network engagement() call."
    )
    engagement_track_mentions: bool = Field(
        default=True,
        description="Track the engagement of collected mentions too (the brand's own published posts "
        "are always tracked).",
    )
    engagement_claim_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a replica owns the due posts it claimed; after that another may take them.",
    )

    sentiment_scorer: str = Field(
        default="linear-v1",
        description="Sentiment scorer of the scoring service, by registered name: 'linear-v1' (the "
        "trained model shipped in the package), 'lexicon-v1' (the word-list baseline) or one a "
        "'resonanz.scorers' plugin registers.",
    )
    sentiment_model: Path | None = Field(
        default=None,
        description="Artefact of the 'linear-v1' scorer (a .npz from 'make train-sentiment'); unset: "
        "the one shipped in resonanz-scoring.",
    )
    sentiment_data_dir: Path | None = Field(
        default=None,
        description="Labelled sentiment corpora for 'make train-sentiment' / 'make eval-sentiment'; "
        "unset: ../shared/data/sentiment relative to the repository root.",
    )

    def database_url_for(self, service: str) -> str:
        """The database URL a service uses: the shared one, or its own SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
