"""Tables. Times are unix seconds (float) so SQLite and PostgreSQL compare them the same way.

The task table is the queue: `state` is the worker-facing lifecycle (queued → running → done),
`status` the client-facing one from the contract (Pending, Ready, Error, ...)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # sha256 of the key: keys are 256-bit random, so a fast hash is enough and lookups stay O(1).
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Queued + running tasks, kept by the transactions that create and end tasks, so the
    # per-key limit is one row read however long the queue is.
    active_tasks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Finetune(Base):
    __tablename__ = "finetunes"
    __table_args__ = (
        # A name is the finetune_id its key sends (migration 0004); NULLs never collide, and
        # a deleted finetune gives its name up, so the index holds live names only.
        Index("ux_finetunes_owner_name", "owner_key_id", "name", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    status: Mapped[str] = mapped_column(String(32), default="Ready")
    comment: Mapped[str] = mapped_column(Text, default="")
    trigger_word: Mapped[str] = mapped_column(String(200), default="TOK")
    # Everything else a client sees in finetune_details (mode, type, rank, iterations, ...).
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    lora_blob: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    deleted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The per-key name of an uploaded LoRA (lowercase letters, digits, - and _): clients send
    # it as finetune_id. NULL for finetunes known by their uuid only.
    name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The base it was made for: NULL = FLUX.1 (every finetune before 0004), else a FLUX.2
    # [klein] kind such as "klein-4b".
    base_model: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_claim", "state", "created_at"),
        # The claim filters on the pipeline kinds the worker serves (migration 0002).
        Index("ix_tasks_kind_claim", "state", "kind", "created_at"),
        Index("ix_tasks_key_state", "key_id", "state"),
        Index("ix_tasks_expires", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    base_url: Mapped[str] = mapped_column(String(500))
    # The pipeline kind that runs it (base, fill, canny, depth; "training"): a worker claims
    # only the kinds it serves. The finetune it applies, for adapter affinity (None: training).
    kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    finetune_id: Mapped[str | None] = mapped_column(String(36), nullable=True)

    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|done
    status: Mapped[str] = mapped_column(String(32), default="Pending")
    progress: Mapped[float | None] = mapped_column(Float, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    blob_key: Mapped[str | None] = mapped_column(String(300), nullable=True)

    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    webhook_secret: Mapped[str | None] = mapped_column(Text, nullable=True)

    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class WebhookDelivery(Base):
    """The outbox: written in the transaction that ends a task, drained by the dispatcher.
    The body is rendered from the (terminal, immutable) task at each attempt, so every attempt
    carries a freshly signed sample URL."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class WorkerProcess(Base):
    """The live worker processes: registered at start, `last_seen` refreshed while running,
    deleted on a clean stop (a killed one ages out), so a kind no live worker serves shows."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    kinds: Mapped[str] = mapped_column(String(200))  # comma-separated
    started_at: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float, index=True)


class Usage(Base):
    """Per key, UTC day and endpoint: what its finished tasks used. Updated in the transaction
    that ends each task (store/usage.py), so it survives the retention purge of the tasks and
    counts each task once. Megapixels and cost count tasks that ended Ready; engine seconds
    every task that ran the engine (migration 0003)."""

    __tablename__ = "usage"

    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    endpoint: Mapped[str] = mapped_column(String(64), primary_key=True)
    tasks: Mapped[int] = mapped_column(Integer, default=0)  # finished, whatever the status
    images: Mapped[int] = mapped_column(Integer, default=0)  # ended Ready
    input_mp: Mapped[float] = mapped_column(Float, default=0.0)
    output_mp: Mapped[float] = mapped_column(Float, default=0.0)
    engine_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: nothing priced
    updated_at: Mapped[float] = mapped_column(Float)
