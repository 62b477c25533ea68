"""Starting a Kafka producer so that a refusal reads as what it is.

A broker without idempotent producers (the embedded dev broker, some managed offerings) fails
the producer's start with a bare ``UnknownError``; this names the setting that decides it. A
producer whose start failed is closed here too, or the client library warns about it from a
finalizer, in plain text, after the command's own message.
"""

from __future__ import annotations

import contextlib
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)

from service.failures import broker_refused_idempotence
from service.settings import Settings

__all__ = ["start_producer"]

_NOT_A_REFUSAL = (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError)


async def start_producer(settings: Settings, **options: Any) -> AIOKafkaProducer:
    """A started producer with the settings' connection and idempotence; the caller stops it."""
    producer = AIOKafkaProducer(
        **settings.kafka_client_options(),
        enable_idempotence=settings.kafka_enable_idempotence,
        **options,
    )
    try:
        await producer.start()
    except BaseException as exc:
        with contextlib.suppress(Exception):
            await producer.stop()
        if (
            settings.kafka_enable_idempotence
            and isinstance(exc, KafkaError)
            and not isinstance(exc, _NOT_A_REFUSAL)
        ):
            raise broker_refused_idempotence(
                settings.kafka_bootstrap_servers, type(exc).__name__
            ) from exc
        raise
    return producer
