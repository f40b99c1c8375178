"""Durable state: API keys, finetunes, tasks (the queue) and the webhook outbox."""

from fluxhost.store.models import ApiKey, Base, Finetune, Task, WebhookDelivery
from fluxhost.store.store import Store

__all__ = ["ApiKey", "Base", "Finetune", "Store", "Task", "WebhookDelivery"]
