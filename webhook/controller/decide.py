"""The hash an opted-in workload should carry, from the same algorithm the webhook uses."""

from __future__ import annotations

from webhook.controller.consumers import Consumer
from webhook.policy import UNREADABLE, ConfigMaps, config_hash, consumed_entries


def desired_hash(consumer: Consumer, configmaps: ConfigMaps) -> str | None:
    """The content hash of what `consumer` consumes; None when it cannot be known right now
    (a ConfigMap is unreadable) or when it consumes nothing."""
    if not consumer.references:
        return None
    if any(configmaps.get(name) is UNREADABLE for name in consumer.configmaps):
        return None
    return config_hash(consumed_entries(consumer.references, configmaps))
