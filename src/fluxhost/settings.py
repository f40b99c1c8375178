"""The one configuration object. Read from `FLUXHOST_*` environment variables (and an optional
`.env`), never at import time: call `Settings()` where you need it.

Imports no higher layer: the kind vocabulary is `fluxhost.kinds`, the endpoints are
`fluxhost.catalog`, the shipped demo's place is `fluxhost.shipped`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fluxhost import catalog
from fluxhost.kinds import (
    BUILTIN_KINDS,
    DEPTH_ESTIMATOR_KEY,
    ENDPOINT_KINDS,
    FLUX2_PIPELINES,
    KIND_NAME,
    RESERVED_KINDS,
    WORKER_KINDS,
    CustomPipeline,
)
from fluxhost.modes import KindModes, Quant, check_attention_backend
from fluxhost.shipped import (
    DEMO_ENDPOINT_KINDS,
    DEMO_KLEIN_GUIDANCE,
    DEMO_KLEIN_KINDS,
    DEMO_KLEIN_STEPS,
    demo_folders,
)


class ModelSpec(BaseModel):
    """An FLUXHOST_MODELS entry in object form: which pipeline a kind runs, on which weights,
    in which memory and speed modes. Required for an operator-defined kind (e.g. "pro11"
    running FluxPipeline on another FLUX-architecture checkpoint), which must name its
    `pipeline`; a built-in kind may use it too, without a pipeline (or with its own), e.g.
    {"source": "black-forest-labs/FLUX.1-dev", "transformer_quant": "int8"}.

    On a FLUX.2 pipeline, `steps` and `guidance` set what the kind runs the FLUX.2 endpoints
    without such request fields at (pro, pro-preview, max, klein): e.g. 50 and 4.0 for a klein
    Base checkpoint, where the built-in 4 steps suit only a distilled one.

    The modes (None: the FLUXHOST_* global default): `transformer_quant` and
    `text_encoder_quant` (none, int8, float8, nf4), `gguf` (a .gguf transformer file, path or
    URL, loaded instead of `source`'s transformer), `first_block_cache` (threshold, 0 = off),
    `compile` (regional torch.compile) and `attention_backend` (diffusers' names)."""

    model_config = ConfigDict(extra="forbid")

    pipeline: CustomPipeline | None = None
    source: str = Field(min_length=1, max_length=1000)
    steps: int | None = Field(None, ge=1, le=100)
    guidance: float | None = Field(None, ge=0, le=100, allow_inf_nan=False)
    transformer_quant: Quant | None = None
    text_encoder_quant: Quant | None = None
    gguf: str | None = Field(None, min_length=1, max_length=1000)
    first_block_cache: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    compile: bool | None = None
    attention_backend: str | None = None

    @field_validator("attention_backend")
    @classmethod
    def _known_backend(cls, value: str | None) -> str | None:
        return None if value is None else check_attention_backend(value)

    @model_validator(mode="after")
    def _steps_on_flux2_only(self) -> ModelSpec:
        # A built-in kind without `pipeline` is checked in check_model_entry, which knows it.
        if (self.steps is not None or self.guidance is not None) \
                and self.pipeline is not None and self.pipeline not in FLUX2_PIPELINES:
            raise ValueError(steps_on_flux1(self.pipeline))
        return self

    @model_validator(mode="after")
    def _gguf_or_quant(self) -> ModelSpec:
        if self.gguf is not None and self.transformer_quant not in (None, "none"):
            raise ValueError(f"gguf {self.gguf!r} is a quantized transformer of its own: "
                             f"leave transformer_quant ({self.transformer_quant!r}) unset")
        return self


def steps_on_flux1(pipeline: str) -> str:
    return (f"steps and guidance are for kinds on a FLUX.2 pipeline "
            f"({', '.join(FLUX2_PIPELINES)}), not on {pipeline!r}: "
            "FLUX.1 endpoints take theirs from the request")


ModelEntry = str | ModelSpec


class Price(BaseModel):
    """One endpoint's price in credits: a flat part plus parts per megapixel (all optional).
    With `first_mp`, megapixels are billed as the provider bills FLUX.2: whole ones of
    1024 x 1024 pixels rounded up, image by image; the first output one at `first_mp`, each
    further one at `per_output_mp` (api/pricing.py)."""

    model_config = ConfigDict(extra="forbid")

    flat: float = Field(0.0, ge=0, allow_inf_nan=False)
    per_output_mp: float = Field(0.0, ge=0, allow_inf_nan=False)
    per_input_mp: float = Field(0.0, ge=0, allow_inf_nan=False)
    first_mp: float | None = Field(None, ge=0, allow_inf_nan=False)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FLUXHOST_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- where things live -------------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="Database, blobs, dev models and secrets.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL. Default: SQLite (WAL) at DATA_DIR/fluxhost.db."
    )
    # Bounded to fit tasks.base_url (VARCHAR(500)) with room to spare: a longer one would make
    # every submission fail its insert on PostgreSQL.
    public_base_url: str | None = Field(
        None,
        max_length=400,
        pattern=r"^https?://[^\s]+$",
        description="Absolute base URL clients reach this server at (polling/sample URLs).",
    )
    forwarded_allow_ips: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Peers whose X-Forwarded-Proto/Host headers are trusted ('*' for any).",
    )

    # --- serving ----------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    auto_migrate: bool | None = Field(
        None, description="Migrate the schema to this build's head when `serve`, `worker` or "
        "another command starts. Unset: yes on SQLite, no on PostgreSQL, where a shared schema "
        "moves with `fluxhost db upgrade` as a release step; a process then refuses to start "
        "on a schema that is behind (so does one with false, on any database).",
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="`fluxhost worker`: serve this process's metrics "
        "(Prometheus text format) on this port. Unset: no metrics server (the API's /metrics "
        "still has the fleet-wide figures).",
    )
    workers: int = Field(1, ge=0, description="Embedded worker threads in `serve` (0 = API only).")
    max_active_tasks_per_key: int = Field(24, ge=1)
    prices: dict[str, Price] = Field(
        default_factory=dict,
        description="Operator price table (JSON): endpoint (e.g. 'flux-pro-finetuned', or '*' "
        'for any other) -> {"flat": credits, "per_output_mp": credits, "per_input_mp": '
        'credits, "first_mp": credits}. A submission\'s `cost` is their sum over its '
        "megapixels (with first_mp: whole megapixels, as the provider bills FLUX.2). Over the "
        "built-in prices (the FLUX.2 endpoints': the provider's table); an endpoint with no "
        "price answers `cost: null`.",
    )
    submit_timeout_seconds: float = Field(
        5.0, gt=0, description="How long a submission (or finetune create/delete) may wait "
        "for the database's write lock before it answers 503 with nothing written.",
    )
    require_key_for_results: bool = False
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    lora_upload_max_mb: int = Field(
        1024, ge=1, le=16 * 1024, description="Bound on an uploaded LoRA file (POST "
        "/v1/fluxhost/finetunes/upload, its own body bound instead of MAX_BODY_BYTES): a "
        "larger one is refused with 413 while it streams in.",
    )
    max_loras_per_key: int = Field(
        100, ge=1, description="Uploaded LoRAs one key may hold at once (deleting one frees "
        "its place); the next upload is answered 429.",
    )
    max_prompt_chars: int = Field(10_000, ge=1)
    max_header_bytes: int = Field(
        32 * 1024, ge=1024, le=1024 * 1024, description="Bound on a request's line and headers "
        "together; past it the server answers 431 and closes the connection.",
    )
    body_read_timeout_seconds: float = Field(
        20.0, gt=0, le=3600, allow_inf_nan=False, description="A request body that sends "
        "nothing for this long (shorter than its Content-Length, or stalled) is answered 408.",
    )
    max_image_pixels: int = Field(
        4096 * 4096, ge=1, description="Bound on decoded input image pixels."
    )
    max_request_pixels: int = Field(
        2 * 4096 * 4096, ge=1, description="Bound on the pixels of one submission's input "
        "images together (a fill's image and mask at the image limit fit), checked from the "
        "headers before anything is decoded.",
    )
    decode_threads: int = Field(
        default_factory=lambda: max(2, os.cpu_count() or 2), ge=1,
        description="Input images decoded at once by the API process (off the event loop).",
    )
    decode_threads_per_key: int = Field(
        1, ge=1, description="Of those, how many one key's submissions may hold: a key's "
        "heavy submits queue behind each other, not in front of other keys'.",
    )
    image_url_fetch: bool = Field(
        True, description="Fetch http(s) URLs given in the fields the contract documents as "
        "'base64 or URL' (Kontext's and FLUX.2's input_image...) at submit; false: such a URL "
        "is refused with 422.",
    )
    image_url_allow_private: bool = Field(
        False, description="Allow image URLs on private, loopback and link-local addresses.",
    )
    image_url_timeout_seconds: float = Field(
        10.0, gt=0, le=300, allow_inf_nan=False, description="Deadline of one image URL fetch, "
        "from resolving the name to the body's last byte, redirects included: a server that "
        "trickles bytes cannot extend it.",
    )
    image_url_connect_timeout_seconds: float = Field(
        3.0, gt=0, allow_inf_nan=False,
        description="Of that deadline, at most this for each TCP connect.",
    )
    image_url_threads: int = Field(
        16, ge=1, description="Image URLs fetched at once by the API process (off the event "
        "loop).",
    )
    image_url_threads_per_key: int = Field(
        4, ge=1, description="Of those, how many one key's submissions may hold.",
    )
    log_format: Literal["json", "text"] = "text"
    log_level: str = "INFO"

    # --- queue ------------------------------------------------------------------------------
    lease_seconds: float = Field(
        30.0, gt=0, description="A claim expires this long after the last heartbeat."
    )
    heartbeat_seconds: float = Field(
        1.0, gt=0, description="Lease renewal and progress flush period."
    )
    max_attempts: int = Field(3, ge=1, description="Claims of one task before it ends Error.")
    unserved_task_timeout_seconds: float = Field(
        600.0, ge=1, le=30 * 86400, allow_inf_nan=False, description="A queued task whose "
        "kind no live worker serves ends Error after waiting this long with none (its key's "
        "active-task slot freed); the clock restarts when such a worker appears.",
    )
    poll_interval_seconds: float = Field(
        0.25, gt=0, description="Idle worker DB poll period: the fallback wake-up (on "
        "PostgreSQL workers are woken by NOTIFY at once; on SQLite embedded ones by the API).",
    )
    listen_notify: bool = Field(
        True, description="PostgreSQL: each worker process LISTENs for new tasks (NOTIFY is "
        "sent by the submit transaction) and wakes its idle workers at once.",
    )
    worker_kinds: str | None = Field(
        None, description="Comma-separated task kinds this process's workers claim (base, fill, "
        "canny, depth, kontext, flux2-dev, klein-4b, klein-9b, klein-9b-kv, training, and "
        "FLUXHOST_MODELS' own kinds); `fluxhost worker --kinds` overrides it. Unset: every kind "
        "the model set has (training with base).",
    )
    affinity_window: int = Field(
        16, ge=1, description="A claim looks at this many oldest queued tasks and prefers one "
        "whose finetune's adapter is resident in the worker's LoRA cache. 1 = off.",
    )
    affinity_max_wait_seconds: float = Field(
        10.0, ge=0, description="Affinity never passes over a task that has waited this long.",
    )
    torch_threads: int = Field(
        0, ge=0, description="torch.set_num_threads in worker processes (0: torch's default), "
        "so several worker processes on one machine share its cores instead of thrashing.",
    )
    shutdown_grace_seconds: float = Field(30.0, ge=0)
    overlap_postprocess: bool = Field(
        True, description="Finish a generated image (output moderation, encoding, blob write, "
        "finishing transaction) on a thread of its own while the worker starts its next task; "
        "false = sequential, one task at a time end to end.",
    )

    # --- delivery -----------------------------------------------------------------------------
    signing_key: str | None = Field(
        None, description="HMAC key for delivery URLs. Default: generated, DATA_DIR/signing.key."
    )
    signed_url_ttl_seconds: int = Field(600, ge=1)
    result_retention_seconds: int = Field(7 * 24 * 3600, ge=1)
    blob_dir: Path | None = Field(None, description="Local blob store. Default: DATA_DIR/blobs.")
    blob_url: str | None = Field(
        None, description="Where blobs live: s3://BUCKET/PREFIX (any S3-compatible store), "
        "file:///dir or a directory. Default: BLOB_DIR. Credentials: the AWS environment.",
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint for MinIO, R2, garage, ... (default: AWS S3)."
    )
    blob_cache_dir: Path | None = Field(
        None, description="Local copies of remote blobs read by path (LoRA weights). "
        "Default: DATA_DIR/cache/blobs.",
    )
    delivery_redirect: bool = Field(
        False, description="On a store that presigns (S3), answer a valid delivery URL with a "
        "307 to a presigned URL instead of streaming through the API (clients must reach it).",
    )
    blob_request_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="API: the most a request's object-store step (input "
        "uploads, a download, a presign) may take, connecting within 2 s; past it, or on a "
        "store error, the request answers 503 with Retry-After.",
    )
    blob_worker_timeout_seconds: float = Field(
        120.0, gt=0, le=3600, description="Workers and commands: the most one object-store "
        "call may take (LoRA weights can be large); one that receives nothing for 30 s fails "
        "sooner.",
    )
    blob_retry_seconds: float = Field(
        120.0, ge=0, le=3600, description="Workers: how long a failing read or write of a "
        "task's blobs (inputs, LoRA weights, the result) is retried, with backoff 1, 2, 4 ... "
        "30 s, while the task's lease is held, before the task ends Error.",
    )

    # --- webhooks -------------------------------------------------------------------------------
    webhook_allow_private: bool = Field(
        False, description="Allow webhook targets on private, loopback and link-local addresses."
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, allow_inf_nan=False,
        description="Deadline of one delivery attempt from connect to the response's status "
        "line and headers: a server that trickles bytes cannot extend it.",
    )
    webhook_connect_timeout_seconds: float = Field(
        3.0, gt=0, allow_inf_nan=False,
        description="Of that deadline, at most this for the TCP connect.",
    )
    webhook_concurrency: int = Field(
        16, ge=1, description="Delivery threads per dispatcher (each process that delivers)."
    )
    webhook_per_target_concurrency: int = Field(
        2, ge=1, description="At most this many of them on one target host:port at a time.",
    )
    webhook_per_key_concurrency: int = Field(
        4, ge=1, description="At most this many of them on one API key's deliveries at a time.",
    )
    webhook_retry_schedule: list[float] = Field(
        default_factory=lambda: [1.0, 5.0, 30.0, 120.0, 600.0, 1800.0],
        description="Seconds to wait before each retry; its length bounds the retries.",
    )

    # --- moderation and prompt upsampling -------------------------------------------------
    moderation_enabled: bool = Field(
        True, description="Moderate prompts, input images and outputs by safety_tolerance."
    )
    moderation_table: dict[int | str, dict[str, Any]] | None = Field(
        None, description="Override of the safety_tolerance -> thresholds table (JSON)."
    )
    moderation_word_lists: dict[str, list[str]] | None = Field(
        None, description="Override of the prompt word lists by category (JSON)."
    )
    upsampler_base_url: str | None = Field(
        None, description="OpenAI-compatible API for prompt upsampling, e.g. "
        "http://localhost:11434/v1 (Ollama). Unset: the built-in offline upsampler.",
    )
    upsampler_model: str | None = None
    upsampler_api_key: str | None = None
    upsampler_timeout_seconds: float = Field(10.0, gt=0)

    # --- models -----------------------------------------------------------------------------
    models: dict[str, ModelEntry] = Field(
        default_factory=dict,
        description="Pipeline kind (base, fill, canny, depth, kontext, redux, depth_estimator; "
        "FLUX.2: flux2-dev, klein-4b, klein-9b, klein-9b-kv) -> hub id or local dir, e.g. "
        '{"base": "black-forest-labs/FLUX.1-dev"}; plus kinds of your own: {"pro11": '
        '{"pipeline": "base", "source": "/models/my-flux"}}, served to the endpoints '
        "FLUXHOST_ENDPOINT_KINDS maps to them. "
        "Empty: the dev model set (random weights; it draws noise).",
    )
    dev_model_dir: Path | None = Field(
        None, description="Where the dev model set is built. Default: DATA_DIR/models/dev."
    )
    model_set: Literal["dev", "emoji"] = Field(
        "dev", description="With FLUXHOST_MODELS empty: 'dev', tiny random pipelines (they draw "
        "noise), or 'emoji', the shipped emoji64 demo (models/emoji64: a 64x64 model trained on "
        "emoji, not FLUX: FLUX.1 text to image, fill and expand on one model, FLUX.2 and Kontext "
        "on another that also edits; no canny or depth; images scaled up to the requested size).",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = Field("auto", description="'auto', 'cpu', 'cuda', 'cuda:1', ...")
    lora_cache_size: int = Field(8, ge=1, description="LoRA adapters kept loaded per pipeline.")
    max_loaded_pipelines: int = Field(
        0, ge=0, description="Pipelines (i.e. transformers) kept loaded at once; the least "
        "recently used is unloaded beyond it. 0 = no limit. Text encoders and VAE are shared.",
    )
    pipeline_memory_budget_mb: int = Field(
        0, ge=0, description="Bytes of transformer weights kept loaded at once (MiB); the least "
        "recently used pipelines are unloaded beyond it (the one in use always stays). 0 = none.",
    )
    transformer_quant: Quant = Field(
        "none", description="Default for every kind's transformer weights (a FLUXHOST_MODELS "
        "entry's own transformer_quant wins): 'none' (as loaded), 'int8' or 'float8' "
        "weight-only (torchao; float8 needs a GPU with FP8, compute capability 8.9+), 'nf4' "
        "(bitsandbytes, CUDA only). A mode that cannot run here stops the start, naming why.",
    )
    text_encoder_quant: Quant = Field(
        "none", description="The same for the text encoders (T5, CLIP; FLUX.2's Mistral and "
        "Qwen3).",
    )
    first_block_cache: float = Field(
        0.0, ge=0, le=1, allow_inf_nan=False, description="Default First Block Cache "
        "threshold (diffusers' cache hooks): a step whose first block's output changed less "
        "than this reuses the cached rest. 0 = off.",
    )
    compile: bool = Field(
        False, description="Default: regional torch.compile of the transformer's repeated "
        "blocks, warmed up before /ready turns 200.",
    )
    attention_backend: str = Field(
        "native", description="Default attention backend, as diffusers names them (native, "
        "flash, sage, xformers, ...).",
    )
    device_map: Literal["none", "balanced"] = Field(
        "none", description="'balanced': each pipeline's components placed across every "
        "visible GPU as it loads (diffusers' device_map), for a model set larger than one card "
        "(`fluxhost doctor` says when); one worker process serves them. 'none': all on DEVICE "
        "(several GPUs that each fit the set: one `fluxhost worker --device cuda:N` per GPU).",
    )
    cpu_offload: Literal["none", "model", "sequential"] = Field(
        "none", description="diffusers CPU offload on CUDA: 'model' keeps one model on the GPU "
        "at a time, 'sequential' one layer (least memory, slowest).",
    )
    captioner: str | None = Field(
        None, description="Image-to-text model (hub id or dir) that captions training images "
        "without a .txt. Default: a tiny random one on the dev model set, none otherwise.",
    )
    ultra_megapixels: float | None = Field(
        None, gt=0, description="Ultra output size. Default 4.0, or 0.0625 on the dev model set."
    )
    ultra_steps: int = Field(40, ge=1, le=100)
    ultra_guidance: float = Field(2.5, ge=1.0, le=100.0)
    kontext_megapixels: float | None = Field(
        None, gt=0, description="Kontext output size (from aspect_ratio or the input image's "
        "aspect). Default 1.048576 (1024x1024, the pipeline's own max_area), or 0.0625 on the "
        "dev model set."
    )
    kontext_steps: int = Field(28, ge=1, le=100)
    kontext_guidance: float = Field(2.5, ge=1.0, le=100.0)

    endpoint_kinds: dict[str, str] = Field(
        default_factory=dict,
        description="Which pipeline kind serves an endpoint (JSON: endpoint -> kind), over the "
        "default mapping (the endpoint catalog, docs/endpoints.md), e.g. "
        '{"flux-pro-1.1": "pro11"}. Kinds: base, fill, canny, depth, kontext, flux2-dev, '
        "klein-4b, klein-9b, klein-9b-kv and the kinds FLUXHOST_MODELS defines; the kind's "
        "pipeline must fit the endpoint.",
    )

    @field_validator("models")
    @classmethod
    def _valid_model_keys(cls, value: dict[str, ModelEntry]) -> dict[str, ModelEntry]:
        for kind, entry in value.items():
            check_model_entry(kind, entry)
        return value

    @field_validator("attention_backend")
    @classmethod
    def _known_attention_backend(cls, value: str) -> str:
        return check_attention_backend(value)

    @field_validator("endpoint_kinds")
    @classmethod
    def _known_endpoints(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(catalog.NAMES))
        if unknown:
            raise ValueError(f"unknown endpoints {unknown}; known: {', '.join(catalog.NAMES)}")
        return value

    @model_validator(mode="after")
    def _kinds_exist(self) -> Settings:
        """Every kind FLUXHOST_ENDPOINT_KINDS and FLUXHOST_WORKER_KINDS name is built in or
        defined by FLUXHOST_MODELS, and runs a pipeline its endpoint can use."""
        for endpoint, kind in self.endpoint_kinds.items():
            pipeline = self.kind_pipeline(kind)
            if pipeline is None:
                raise ValueError(f"FLUXHOST_ENDPOINT_KINDS: unknown kind {kind!r} for {endpoint}"
                                 f"; known: {', '.join(self.known_kinds())}")
            pipelines = catalog.get(endpoint).pipelines
            if pipeline not in pipelines:
                raise ValueError(
                    f"FLUXHOST_ENDPOINT_KINDS: {endpoint} cannot run on kind {kind!r} (a "
                    f"{pipeline} pipeline); it needs one of: {', '.join(pipelines)}")
        if self.worker_kinds is not None:
            known = (*WORKER_KINDS, *self.custom_kinds())
            unknown = [k for k in self.worker_kinds.split(",") if k not in known]
            if unknown:
                raise ValueError(f"unknown kinds {unknown}; known: {', '.join(known)}")
        return self

    @model_validator(mode="after")
    def _demo_models(self) -> Settings:
        if self.model_set == "emoji" and not self.models:
            # Served like any configured model; fluxhost.engine.demo adapts it to 64x64.
            self.models = demo_models()
            if "klein-4b" in self.models:
                # FLUXHOST_ENDPOINT_KINDS' own entries win (checked by _kinds_exist above).
                self.endpoint_kinds = {**DEMO_ENDPOINT_KINDS, **self.endpoint_kinds}
        return self

    @property
    def uses_demo_models(self) -> bool:
        """The shipped emoji64 demo set (FLUXHOST_MODEL_SET=emoji, FLUXHOST_MODELS empty)."""
        return self.model_set == "emoji" and self.models == demo_models()

    def served_kinds(self) -> frozenset[str]:
        """The pipeline kinds this configuration has a model for (the dev set has every
        built-in one, FLUX.2's included), without importing the engine: what the API accepts
        submissions for."""
        if self.uses_dev_models:
            return frozenset(BUILTIN_KINDS)
        return frozenset(kind for kind in self.models if self.kind_pipeline(kind) is not None)

    def custom_kinds(self) -> dict[str, str]:
        """The operator-defined kinds of FLUXHOST_MODELS -> the pipeline each runs."""
        # check_model_entry has made sure every one of them names its pipeline.
        return {kind: entry.pipeline for kind, entry in self.models.items()
                if isinstance(entry, ModelSpec) and entry.pipeline is not None
                and kind not in BUILTIN_KINDS}

    def known_kinds(self) -> tuple[str, ...]:
        return (*ENDPOINT_KINDS, *self.custom_kinds())

    def kind_pipeline(self, kind: str) -> str | None:
        """The pipeline `kind` runs (base, fill, canny, depth, kontext, redux; flux2, klein,
        klein-kv); None for a kind that is neither built in nor defined by FLUXHOST_MODELS."""
        if kind in BUILTIN_KINDS:
            return BUILTIN_KINDS[kind]
        return self.custom_kinds().get(kind)

    def kind_steps_guidance(self, kind: str) -> tuple[int | None, float | None]:
        """The steps and guidance FLUXHOST_MODELS gives `kind` (None: not given)."""
        entry = self.models.get(kind)
        if isinstance(entry, ModelSpec):
            return entry.steps, entry.guidance
        return None, None

    def modes_for(self, kind: str) -> KindModes:
        """`kind`'s memory and speed modes: its FLUXHOST_MODELS entry's, else the global
        defaults. A kind with a gguf file has an unquantized transformer_quant ("none")."""
        entry = self.models.get(kind)
        spec = entry if isinstance(entry, ModelSpec) else None

        def pick(name: str) -> Any:
            own = getattr(spec, name, None)
            return getattr(self, name) if own is None else own

        gguf = spec.gguf if spec is not None else None
        return KindModes(
            transformer_quant="none" if gguf is not None else pick("transformer_quant"),
            text_encoder_quant=pick("text_encoder_quant"),
            gguf=gguf,
            first_block_cache=pick("first_block_cache"),
            compile=pick("compile"),
            attention_backend=pick("attention_backend"),
        )

    def model_sources(self) -> dict[str, str]:
        """FLUXHOST_MODELS as kind (or depth_estimator) -> hub id or local dir."""
        return {kind: entry.source if isinstance(entry, ModelSpec) else entry
                for kind, entry in self.models.items()}

    def endpoint_kind(self, endpoint: str) -> str:
        """The pipeline kind that serves `endpoint`: FLUXHOST_ENDPOINT_KINDS, else the default
        mapping (the kind a task of it is stored with, and claimed by)."""
        return self.endpoint_kinds.get(endpoint) or catalog.task_kind(endpoint)

    @field_validator("prices")
    @classmethod
    def _known_price_endpoints(cls, value: dict[str, Price]) -> dict[str, Price]:
        unknown = sorted(set(value) - set(catalog.NAMES) - {"*"})
        if unknown:  # a typo would silently answer cost: null
            raise ValueError(f"unknown endpoints {unknown}; known: '*', "
                             f"{', '.join(catalog.NAMES)}")
        return value

    @field_validator("worker_kinds")
    @classmethod
    def _known_kinds(cls, value: str | None) -> str | None:
        if value is None:
            return None
        kinds = [k.strip() for k in value.split(",") if k.strip()]
        # Whether each is known needs FLUXHOST_MODELS: checked in _kinds_exist.
        bad = [k for k in kinds if not KIND_NAME.fullmatch(k)]
        if bad or not kinds:
            raise ValueError(f"unknown kinds {bad}; known: {', '.join(WORKER_KINDS)}")
        return ",".join(kinds)

    @field_validator("models", mode="before")
    @classmethod
    def _drop_empty(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if v}
        return value

    # --- derived ----------------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'fluxhost.db').resolve()}"

    @property
    def resolved_blob_dir(self) -> Path:
        return self.blob_dir or self.data_dir / "blobs"

    @property
    def resolved_blob_cache_dir(self) -> Path:
        return self.blob_cache_dir or self.data_dir / "cache" / "blobs"

    @property
    def uses_dev_models(self) -> bool:
        return not self.models

    @property
    def resolved_ultra_megapixels(self) -> float:
        if self.ultra_megapixels is not None:
            return self.ultra_megapixels
        return 0.0625 if self.uses_dev_models else 4.0

    @property
    def resolved_kontext_megapixels(self) -> float:
        if self.kontext_megapixels is not None:
            return self.kontext_megapixels
        return 0.0625 if self.uses_dev_models else 1024 * 1024 / 1e6


def check_model_entry(kind: str, entry: ModelEntry) -> None:
    """A FLUXHOST_MODELS entry is a built-in key with a source (or a spec of its own pipeline),
    or a new kind, named to fit the tasks table and metric labels, with a spec."""
    if kind in BUILTIN_KINDS:
        pipeline = BUILTIN_KINDS[kind]
        if not isinstance(entry, ModelSpec):
            return
        if entry.pipeline not in (None, pipeline):
            raise ValueError(f"kind {kind!r} is built in and runs the {pipeline} pipeline, not "
                             f"{entry.pipeline!r}; give your kind another name")
        if (entry.steps is not None or entry.guidance is not None) \
                and pipeline not in FLUX2_PIPELINES:
            raise ValueError(steps_on_flux1(pipeline))
    elif kind == DEPTH_ESTIMATOR_KEY:
        if isinstance(entry, ModelSpec):
            raise ValueError(f"{kind!r} takes a hub id or directory, not a pipeline spec")
    elif kind in RESERVED_KINDS or not KIND_NAME.fullmatch(kind):
        raise ValueError(f"bad kind name {kind!r}: lowercase letters, digits, '-' and '_', "
                         f"at most 16, starting with a letter; not {', '.join(RESERVED_KINDS)}")
    elif not isinstance(entry, ModelSpec) or entry.pipeline is None:
        source = entry.source if isinstance(entry, ModelSpec) else entry
        raise ValueError(f"kind {kind!r} is not built in: give its pipeline too, e.g. "
                         f'{{"{kind}": {{"pipeline": "base", "source": {source!r}}}}}')


def demo_models() -> dict[str, ModelEntry]:
    """FLUXHOST_MODELS of the shipped emoji64 set (fluxhost.shipped): gen 1's folder as base and
    as fill (its manifest loads it as an inpainting pipeline there), and the klein folder, when
    exported, under every klein kind at the demo's steps and guidance."""
    folders = demo_folders()
    models: dict[str, ModelEntry] = {"base": str(folders["base"]), "fill": str(folders["base"])}
    if "klein" in folders:
        for kind in DEMO_KLEIN_KINDS:
            models[kind] = ModelSpec.model_validate({
                "source": str(folders["klein"]), "steps": DEMO_KLEIN_STEPS,
                "guidance": DEMO_KLEIN_GUIDANCE})
    return models
