"""Enumerations of the contract."""

from enum import Enum


class OutputFormat(str, Enum):
    jpeg = "jpeg"
    png = "png"


class StatusResponse(str, Enum):
    task_not_found = "Task not found"
    pending = "Pending"
    request_moderated = "Request Moderated"
    content_moderated = "Content Moderated"
    ready = "Ready"
    error = "Error"


TERMINAL = frozenset(
    {
        StatusResponse.ready,
        StatusResponse.error,
        StatusResponse.request_moderated,
        StatusResponse.content_moderated,
    }
)
