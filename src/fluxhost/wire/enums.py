"""Enumerations of the contract."""

from enum import StrEnum


# base-api.openapi.json's enum (webp added 2026-03-25), served for both families; the finetune
# file has the older [jpeg, png] (contract/BASE-API-SOURCES.md). A comment, not a docstring:
# that would become the schema's description.
class OutputFormat(StrEnum):
    jpeg = "jpeg"
    png = "png"
    webp = "webp"


class StatusResponse(StrEnum):
    task_not_found = "Task not found"
    pending = "Pending"
    request_moderated = "Request Moderated"
    content_moderated = "Content Moderated"
    ready = "Ready"
    error = "Error"

