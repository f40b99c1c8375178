"""What the client commands print on stdout for scripts: JSON of the SDK's answers."""

from __future__ import annotations

import json
from typing import Any


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def result_json(result: Any) -> dict[str, Any]:
    """A get_result answer as the server sent it (the SDK keeps the body as `raw`)."""
    raw = getattr(result, "raw", None)
    if isinstance(raw, dict) and raw:
        return raw
    return {"id": result.id, "status": result.status, "result": result.result,
            "progress": result.progress, "details": getattr(result, "details", None)}


def submission_json(submission: Any) -> dict[str, Any]:
    raw = getattr(submission, "raw", None)
    if isinstance(raw, dict) and raw:
        return raw
    return {"id": submission.id, "polling_url": submission.polling_url}
