"""Enumerations of the contract."""

from enum import StrEnum


class OutputFormat(StrEnum):
    jpeg = "jpeg"
    png = "png"


class StatusResponse(StrEnum):
    task_not_found = "Task not found"
    pending = "Pending"
    request_moderated = "Request Moderated"
    content_moderated = "Content Moderated"
    ready = "Ready"
    error = "Error"

