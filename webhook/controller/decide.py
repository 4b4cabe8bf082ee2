"""The hash an opted-in workload should carry, from the same algorithm the webhook uses."""

from __future__ import annotations

from webhook.controller.consumers import Consumer
from webhook.policy import UNREADABLE, ConfigMaps, Secrets, config_hash, consumed_entries


def desired_hash(consumer: Consumer, configmaps: ConfigMaps, secrets: Secrets | None = None) -> str | None:
    """The content hash of what `consumer` consumes; None when it cannot be known right now
    (a ConfigMap is unreadable), when it consumes nothing, or when it consumes only Secrets and
    there is no hash key (`secrets` None): the same cases in which the webhook stamps no hash."""
    if not consumer.references:
        return None
    if any(configmaps.get(name) is UNREADABLE for name in consumer.configmaps):
        return None
    if secrets is None and not consumer.configmaps:
        return None
    return config_hash(consumed_entries(consumer.references, configmaps, secrets))
