"""Schemathesis against the live server, on SQLite and on PostgreSQL.

`fluxhost serve --workers 0` runs as a real process on loopback (tests/e2e/harness.py): no engine,
so accepted tasks stay queued. Schemathesis' own engine (what `st run` drives) tests every
operation of the served /openapi.json through all its phases: the schema's examples, coverage
(boundary and invalid values, deterministic), fuzzing with valid (positive) and invalid
(negative) inputs, and stateful sequences over links: those it infers (a training's
`finetune_id` into the submits, details and delete) and the ones added here (every task id into
get_result). Every response must be no 5xx,
carry a documented status code and content type, match the documented schema for that status,
and an operation documented with the APIKeyHeader scheme must refuse a request without the key.

Requests carry a real key (`x-key`, through the APIKeyHeader scheme) and, about half the time,
the finetune that key owns (on the klein -finetuned endpoints, the klein LoRA it uploaded for
that base), a decodable image in the image fields and a valid training ZIP in `file_data`: so
submits get past validation and the ownership 404, down to the database write. The LoRA upload
(a raw .safetensors body) gets a klein-4b LoRA as its body, a free name and a klein base about
half the time each.
String and integer values are drawn now and then from a dictionary of awkward ones (NUL,
over-long strings, integers beyond 64 bits): the inputs that make a database, not
the validation, answer.

(`schemathesis.pytest.from_fixture` cannot be used: schemathesis 4.32 sets pytest's
`node._nodeid`, which pytest 9 no longer has. The engine gives the same phases, and every
distinct failure at once rather than the first.)

Runs are derandomized (fixed seed, `deterministic`, no example database, no cache), and each
runs in a fresh Python process (`python -m tests.api.test_schemathesis`): hypothesis also draws
constants found in the source of the local modules already imported, so the same seed generated
different cases in a pytest process that earlier test files had imported more of fluxhost into
(in make test, POST /v1/flux-pro-1.0-canny once got no valid case in 257). They are bounded
by examples, not time: MAX_EXAMPLES per operation and mode in fuzzing, STATEFUL_STEPS per
stateful scenario. FUZZ_EXAMPLES in the environment scales a deeper local run (not FLUXHOST_*:
tests/conftest.py clears those).
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.core.result import Ok
from schemathesis.engine import Status, events, from_schema

from fluxhost.api.routers.loras import UPLOAD_PATH
from fluxhost.catalog import FLUX2_IMAGE_FIELDS
from fluxhost.wire.flux2_finetuned import KLEIN_BASES
from tests.e2e.conftest import provision
from tests.e2e.harness import Node

FUZZ_SECONDS = 1200  # the fuzzing process's bound (the module took 78 s alone on 2 cores)
# The suite's per-test timeout (300 s) would cut the fuzzing fixture first on a loaded machine
# (two suites at once on 2 cores took it past 300 s), so the module has the fixture's bound.
pytestmark = [pytest.mark.service, pytest.mark.slow, pytest.mark.timeout(FUZZ_SECONDS + 60)]

SEED = 20_250_601
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
STATEFUL_STEPS = 10
REQUEST_TIMEOUT = 30
SERVER_ERROR = "ST101"  # schemathesis' failure code for a 5xx answer
REPO_ROOT = Path(__file__).resolve().parents[2]

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "ignored_auth",
]
# Not checked: positive_data_acceptance (the schema cannot say "a decodable image" or "a base64
# ZIP", so schema-valid strings are rightly refused with 422) and negative_data_rejection.

# Drawn now and then for any string / integer the schema asks for (and in negative mode).
# 10,000 characters: past PostgreSQL's btree entry limit (~2.7 kB), within uvicorn's request line.
AWKWARD_STRINGS = ["\x00", "a\x00b", "x" * 10_000, "é" * 300, "%00", "../../etc"]
AWKWARD_INTEGERS = [2**31, 2**32, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]
UPLOAD_NAME = "fuzz-upload"


@dataclass
class Target:
    """What a fuzzing run needs to know of the live server (JSON, for the run's own process)."""

    url: str
    key: str
    finetune_id: str
    # Finetunes of the same key that delete_finetune is given instead of `finetune_id`, which
    # must live through the whole run for the submits to reach past their 404.
    doomed: list[str] = field(default_factory=list)
    # klein base -> the name of the LoRA the key uploaded for it (its -finetuned endpoint's
    # finetune_id), and the raw klein-4b LoRA file the upload operation is given.
    loras: dict[str, str] = field(default_factory=dict)
    lora_path: str = ""


@dataclass
class Live:
    engine: str
    node: Node
    target: Target

    @property
    def url(self) -> str:
        return self.node.url

    @property
    def key(self) -> str:
        return self.target.key

    @property
    def finetune_id(self) -> str:
        return self.target.finetune_id


def _png_b64(mode: str) -> str:
    from PIL import Image

    buf = io.BytesIO()
    color = (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30)
    Image.new(mode, (64, 64), color).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _upload_loras(node: Node, key: str, dev_model_dir: Path,
                  folder: Path) -> tuple[dict[str, str], Path]:
    """A LoRA per klein base uploaded for the key (as a client uploads: raw body, name and base
    in the query); the base -> name map and the klein-4b file."""
    from fluxhost.engine.families.flux2.dev_loras import write_layout_lora

    names: dict[str, str] = {}
    for base in KLEIN_BASES:
        file = write_layout_lora(dev_model_dir / base, folder / f"{base}.safetensors",
                                 "ai-toolkit", seed=len(names))
        names[base] = f"fuzz-{base}"
        r = httpx.post(f"{node.url}{UPLOAD_PATH}", params={"name": names[base], "base": base},
                       content=file.read_bytes(), timeout=300,
                       headers={"x-key": key, "content-type": "application/octet-stream"})
        assert r.status_code == 200, r.text
    return names, folder / "klein-4b.safetensors"


def _training_zip_b64() -> str:
    png = base64.b64decode(_png_b64("RGB"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.png", png)
        zf.writestr("a.txt", b"a red square")
        zf.writestr("b.png", png)
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         dev_model_dir: Path, dev_lora_file: Path) -> Iterator[Live]:
    """The server on SQLite; test_schemathesis_postgresql.py runs this file's tests on
    PostgreSQL (a file of its own so that pytest-xdist fuzzes both engines at once)."""
    yield from live_server("sqlite", request, tmp_path_factory, dev_model_dir, dev_lora_file)


def live_server(engine: str, request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path,
                dev_lora_file: Path) -> Iterator[Live]:
    env = {
        # No engine runs (--workers 0), so every accepted task stays active: with the default
        # limit the key would answer 429 to everything after its 24th accepted submit.
        "FLUXHOST_MAX_ACTIVE_TASKS_PER_KEY": "1000000",
    }
    if engine == "postgresql":
        import psycopg

        pg_server: str = request.getfixturevalue("pg_server")
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        env["FLUXHOST_DATABASE_URL"] = pg_server.rsplit("/", 1)[0] + f"/{name}"
    node = Node(data_dir=tmp_path_factory.mktemp(f"schemathesis-{engine}"),
                dev_model_dir=dev_model_dir, extra_env=env)
    try:
        key, finetune_id = provision(node, dev_lora_file, name="fuzz")
        doomed = [node.cli("finetunes", "import", str(dev_lora_file), "--owner", "fuzz",
                           "--comment", f"doomed {i}") for i in range(2)]
        node.serve(workers=0)
        loras, lora_path = _upload_loras(node, key, dev_model_dir, node.data_dir / "loras")
        yield Live(engine, node, Target(node.url, key, finetune_id, doomed, loras,
                                        str(lora_path)))
    finally:
        node.stop_all()


def schemathesis_config(target: Target, *,
                        max_examples: int = MAX_EXAMPLES) -> schemathesis.Config:
    image = _png_b64("RGBA")  # with alpha: the fill endpoint takes its mask from it
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "workers": 1,
        # Keep going after an operation's first failure: a known, undocumented status code must
        # not hide a 500 further down the same operation's examples.
        "continue-on-failure": True,
        "request-timeout": REQUEST_TIMEOUT,
        "suppress-health-check": ["all"],
        "cache": {"enabled": False},
        "dictionaries": {
            "finetune": {"values": [target.finetune_id]},
            "doomed": {"values": target.doomed or ["none"]},
            **{base: {"values": [name]} for base, name in target.loras.items()},
            # A name no LoRA of the key has yet (the first upload under it is a 200, the next
            # ones 409), and the base its file was made for.
            "upload_name": {"values": [UPLOAD_NAME]},
            "upload_base": {"values": ["klein-4b"]},
            "image": {"values": [image]},
            "training_zip": {"values": [_training_zip_b64()]},
            # The defaults: canny thresholds drawn from the whole 0..500 range are refused half
            # the time (low above high), which left canny with few accepted cases.
            "canny_low": {"values": [50]},
            "canny_high": {"values": [200]},
            "awkward_strings": {"values": AWKWARD_STRINGS},
            "awkward_integers": {"values": AWKWARD_INTEGERS},
        },
        "parameters": {
            "body.finetune_id": {"dictionary": "finetune", "probability": 0.5},
            "query.finetune_id": {"dictionary": "finetune", "probability": 0.5},
            **{f"body.{name}": {"dictionary": "image", "probability": 0.5}
               for name in ("image_prompt", "image", "mask", "control_image",
                            *FLUX2_IMAGE_FIELDS)},
            "body.file_data": {"dictionary": "training_zip", "probability": 0.5},
            "body.canny_low_threshold": {"dictionary": "canny_low", "probability": 0.5},
            "body.canny_high_threshold": {"dictionary": "canny_high", "probability": 0.5},
        },
        "operations": [{
            "include-path": "/v1/delete_finetune",
            "parameters": {"body.finetune_id": {"dictionary": "doomed", "probability": 0.5}},
        }, *({
            "include-path": f"/v1/{endpoint}",
            "parameters": {"body.finetune_id": {"dictionary": base, "probability": 0.5}},
        } for base, endpoint in KLEIN_BASES.items()), {
            "include-path": UPLOAD_PATH,
            "parameters": {"query.name": {"dictionary": "upload_name", "probability": 0.5},
                           "query.base": {"dictionary": "upload_base", "probability": 0.5}},
        }],
        "auth": {"openapi": {"APIKeyHeader": {"api_key": target.key}}},
        "generation": {
            "mode": "all",
            "max-examples": max_examples,
            "deterministic": True,
            "database": "none",
            "dictionaries": {
                "string": {"dictionary": "awkward_strings", "probability": 0.05},
                "integer": {"dictionary": "awkward_integers", "probability": 0.05},
            },
        },
        "checks": {
            **{name: {"enabled": True} for name in CHECKS},
            "positive_data_acceptance": {"enabled": False},
            "negative_data_rejection": {"enabled": False},
            "missing_required_header": {"enabled": False},
            "unsupported_method": {"enabled": False},
            "use_after_free": {"enabled": False},
            "ensure_resource_availability": {"enabled": False},
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True, "max-steps": STATEFUL_STEPS},
        },
    })


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


@dataclass
class Finding:
    operation: str
    code: str
    title: str
    message: str
    status: int | None
    body: str
    reproduce: str
    phase: str

    def render(self) -> str:
        return (f"[{self.phase}] {self.operation}: {self.code} {self.title} "
                f"-> {self.status} {_clip(self.body, 300)}\n"
                f"    {_clip(self.message.strip(), 400)}\n"
                f"    {_clip(self.reproduce, 1500)}")


@dataclass
class RunResult:
    findings: dict[tuple[Any, ...], Finding]
    errors: list[str]
    tested: set[str]
    operations: set[str]
    statuses: Counter[tuple[str, int]]
    inferred_links: int

    @property
    def cases(self) -> int:
        return sum(self.statuses.values())

    def report_items(self) -> list[tuple[Finding, str]]:
        return [(f, f.render()) for f in sorted(
            self.findings.values(), key=lambda f: (f.operation, f.code, f.status or 0))]

    def to_json(self) -> dict[str, Any]:
        return {"findings": [asdict(f) for f in self.findings.values()], "errors": self.errors,
                "tested": sorted(self.tested), "operations": sorted(self.operations),
                "statuses": [[op, status, n] for (op, status), n in self.statuses.items()],
                "inferred_links": self.inferred_links}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        findings = [Finding(**f) for f in data["findings"]]
        return cls({(f.operation, f.code, f.title, f.status): f for f in findings},
                   data["errors"], set(data["tested"]), set(data["operations"]),
                   Counter({(op, status): n for op, status, n in data["statuses"]}),
                   data["inferred_links"])

    def summary(self) -> str:
        by_op: dict[str, list[str]] = {}
        for (op, status), n in sorted(self.statuses.items()):
            by_op.setdefault(op, []).append(f"{status}x{n}")
        return "\n".join(f"  {op}: {' '.join(counts)}" for op, counts in sorted(by_op.items()))


def served_operations(schema: Any) -> list[Any]:
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # the served schema is malformed
        operations.append(result.ok())
    return operations


def run_schemathesis(schema: Any) -> RunResult:
    """All phases through schemathesis' engine; every distinct failure, deduplicated."""
    findings: dict[tuple[Any, ...], Finding] = {}
    errors: list[str] = []
    tested: set[str] = set()
    statuses: Counter[tuple[str, int]] = Counter()
    inferred_links = 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.FatalError):
            raise event.exception
        if isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.format()}")
            continue
        if isinstance(event, events.PhaseStarted) and isinstance(event.payload,
                                                                  events.StatefulPhasePayload):
            inferred_links = event.payload.inferred_transitions
            continue
        if not isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            continue
        recorder = event.recorder
        phase = getattr(event, "phase", "fuzzing")
        if event.status != Status.SKIP:
            tested.add(recorder.label)
        for case_id, node in recorder.cases.items():
            response = recorder.find_response(case_id=case_id)
            if response is not None:
                statuses[(node.value.operation.label, response.status_code)] += 1
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.status != Status.FAILURE or check.failure_info is None:
                    continue
                failure = check.failure_info.failure
                response = recorder.find_response(case_id=case_id)
                case = recorder.cases.get(case_id)
                operation = failure.operation or (case.value.operation.label if case
                                                  else recorder.label)
                status = response.status_code if response is not None else None
                key = (operation, failure.code, failure.title, status)
                if key in findings:
                    continue
                body = response.content.decode("utf-8", "replace") if response is not None else ""
                findings[key] = Finding(operation, failure.code, failure.title, failure.message,
                                        status, body, check.failure_info.code_sample, str(phase))
    operations = {operation.label for operation in served_operations(schema)}
    return RunResult(findings, errors, tested, operations, statuses, inferred_links)


def served_schema_with_links(url: str) -> dict[str, Any]:
    """The served /openapi.json, plus the OpenAPI links schemathesis cannot infer: every task an
    operation creates can be polled (a submit's `id`, a training's `finetune_id`, which is its
    task id) at get_result. Only `links` are added; nothing that validation reads changes."""
    raw: dict[str, Any] = httpx.get(f"{url}/openapi.json", timeout=30).raise_for_status().json()
    get_result = raw["paths"]["/v1/get_result"]["get"]["operationId"]
    for operation in (item.get("post") for item in raw["paths"].values()):
        if operation is None:
            continue
        schema_ref = json.dumps(operation["responses"].get("200", {}))
        if "AsyncResponse" in schema_ref:
            source = "$response.body#/id"
        elif operation["operationId"] == "finetune_v1_finetune_post":
            source = "$response.body#/finetune_id"
        else:
            continue
        operation["responses"]["200"].setdefault("links", {})["PollResult"] = {
            "operationId": get_result, "parameters": {"query.id": source}}
    return raw


def give_the_upload_a_lora(schema: Any, lora: bytes) -> None:
    """The upload's body is the raw file, which no dictionary can give (they hold JSON values):
    a hook on this schema only draws, about half the time, a real klein-4b LoRA instead of the
    generated bytes."""
    from hypothesis import strategies as st

    @schema.hook
    def flatmap_body(context: Any, body: Any) -> Any:
        if context.operation is None or context.operation.path != UPLOAD_PATH:
            return st.just(body)
        return st.sampled_from([body, lora])


def fuzz(target: Target) -> RunResult:
    config = schemathesis_config(target)
    config.projects.default.update(base_url=target.url)
    schema = schemathesis.openapi.from_dict(served_schema_with_links(target.url), config=config)
    give_the_upload_a_lora(schema, Path(target.lora_path).read_bytes())
    return run_schemathesis(schema)


@pytest.fixture(scope="module")
def fuzzed(live: Live, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """One schemathesis run per engine, in a process of its own (see the module's docstring);
    the tests below read different parts of it."""
    folder = tmp_path_factory.mktemp(f"fuzz-{live.engine}")
    (folder / "target.json").write_text(json.dumps(asdict(live.target)))
    run = subprocess.run(
        [sys.executable, "-m", "tests.api.test_schemathesis", str(folder / "target.json"),
         str(folder / "result.json")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=FUZZ_SECONDS, check=False)
    assert run.returncode == 0, f"the fuzzing run failed:\n{run.stdout[-3000:]}{run.stderr[-6000:]}"
    result = RunResult.from_json(json.loads((folder / "result.json").read_text()))
    print(f"schemathesis on {live.engine}: {result.cases} requests, "
          f"{result.inferred_links} inferred links; statuses per operation:\n{result.summary()}")
    return result


def _fail(live: Live, result: RunResult, what: str, lines: list[str]) -> str:
    return (f"{len(lines)} distinct {what} on {live.engine} ({result.cases} requests; x-key "
            f"[Filtered] is the test's key):\n\n" + "\n\n".join(lines))


def test_every_operation_was_fuzzed(live: Live, fuzzed: RunResult) -> None:
    assert fuzzed.operations, "the served schema has no operations"
    assert fuzzed.operations <= fuzzed.tested, sorted(fuzzed.operations - fuzzed.tested)
    assert not fuzzed.errors, "\n".join(fuzzed.errors)


def test_fuzzing_reached_past_validation(live: Live, fuzzed: RunResult) -> None:
    """The key, the finetune id and the image / ZIP dictionaries work: every operation that
    accepts something was answered 200 at least once, and the stateful phase followed links."""
    accepted = {op for (op, status) in fuzzed.statuses if status == 200}
    missing = sorted(fuzzed.operations - accepted)
    # What those operations were answered instead, so that a failure says why.
    answered = {op: {status: n for (o, status), n in fuzzed.statuses.items() if o == op}
                for op in missing}
    assert not missing, (answered, fuzzed.errors[:5])
    assert fuzzed.inferred_links > 0
    # The finetune the submits are given lived through the run (delete got the doomed ones).
    r = httpx.get(f"{live.url}/v1/finetune_details", params={"finetune_id": live.finetune_id},
                  headers={"x-key": live.key}, timeout=30)
    assert r.status_code == 200, r.text


def test_no_server_errors(live: Live, fuzzed: RunResult) -> None:
    lines = [line for f, line in fuzzed.report_items() if f.code == SERVER_ERROR]
    assert not lines, _fail(live, fuzzed, "server errors", lines)


def test_responses_match_the_served_schema(live: Live, fuzzed: RunResult) -> None:
    """Documented status codes, content types and bodies; auth enforced where documented."""
    lines = [line for f, line in fuzzed.report_items()
             if f.code != SERVER_ERROR and (f.status or 0) < 500]
    assert not lines, _fail(live, fuzzed, "schema conformance failures", lines)


# Bodies no JSON Schema generator writes: they reach the JSON decoder and the store, not the
# model. Each goes to every operation that takes a body, with the key.
MALFORMED_BODIES: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "application/json"),
    "not UTF-8": (b"\xff\xfe{", "application/json"),
    "truncated": (b'{"prompt": "a', "application/json"),
    "array": (b"[]", "application/json"),
    "string": (b'"x"', "application/json"),
    "null": (b"null", "application/json"),
    "NaN": (b'{"seed": NaN, "prompt": "a"}', "application/json"),
    "1e999": (b"1e999", "application/json"),
    "5000-digit integer": (b'{"seed": 1' + b"0" * 5000 + b"}", "application/json"),
    "100000-deep nesting": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "lone surrogate": (b'{"finetune_id": "\\ud800", "prompt": "a"}', "application/json"),
    "NUL": (b'{"finetune_id": "a\\u0000", "prompt": "a\\u0000"}', "application/json"),
    "latin-1 charset": ('{"prompt": "caf\u00e9"}'.encode("latin-1"),
                        "application/json; charset=latin-1"),
    "form-encoded": (b"prompt=a&finetune_id=b", "application/x-www-form-urlencoded"),
    "no content type": (b'{"prompt": "a"}', ""),
}


def test_malformed_bodies(live: Live) -> None:
    """Every malformed body is refused with a documented 4xx, never a 5xx."""
    config = schemathesis_config(live.target)
    config.projects.default.update(base_url=live.url)
    schema = schemathesis.openapi.from_dict(served_schema_with_links(live.url), config=config)
    # (failure, status, answer) -> the (operation, body) pairs answered so, and one reproducer
    problems: dict[tuple[str, int, str], list[str]] = {}
    reproducers: dict[tuple[str, int, str], str] = {}
    tried = 0
    for operation in served_operations(schema):
        if not list(operation.body):
            continue
        for name, (raw, content_type) in MALFORMED_BODIES.items():
            tried += 1
            case = operation.Case(media_type="application/json")
            headers = {"x-key": live.key, "Content-Type": content_type}
            response = case.call(data=raw, headers=headers)
            try:
                case.validate_response(response)
                failure = None if response.status_code < 500 else "5xx"
            except (AssertionError, BaseExceptionGroup) as exc:  # schemathesis' failures
                failure = " / ".join(f"{getattr(f, 'code', '')} {getattr(f, 'title', f)}"
                                     for f in getattr(exc, "exceptions", [exc]))
            if failure:
                key = (failure, response.status_code, _clip(response.text, 200))
                problems.setdefault(key, []).append(f"{operation.label} <- {name}")
                shown = _clip(raw.decode("utf-8", "backslashreplace"), 120)
                reproducers.setdefault(key, (
                    f"curl -X POST -H 'x-key: KEY' -H 'Content-Type: {content_type}' "
                    f"--data-binary $'{shown}' {live.url}{operation.path}"))
    report = "\n\n".join(
        f"{failure} -> {status} {text}\n    {len(pairs)} cases: {'; '.join(pairs)}\n"
        f"    e.g. {reproducers[(failure, status, text)]}"
        for (failure, status, text), pairs in problems.items())
    assert tried, "no operation of the served schema takes a body"
    assert not problems, (f"{sum(map(len, problems.values()))} of {tried} malformed bodies "
                          f"mishandled on {live.engine}:\n\n{report}")


if __name__ == "__main__":  # the `fuzzed` fixture's run: TARGET_JSON RESULT_JSON
    _target = Target(**json.loads(Path(sys.argv[1]).read_text()))
    Path(sys.argv[2]).write_text(json.dumps(fuzz(_target).to_json()))
