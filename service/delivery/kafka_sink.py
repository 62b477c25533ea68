"""Durable writes to our own topics (the DLQ and the retry tiers): an aiokafka producer with
acks=all behind the sink seams, so the pipeline commits only what is safely elsewhere.

Every copy is cut to what the producer will take (:mod:`service.delivery.fit`) before it is
sent, and a copy the broker still refuses as a record is sent again in its next smaller form:
no single record can make a write fail for ever, which would stop the service on every restart
at the same offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from service.delivery.dead_letter import DeadLetter, dead_letter_headers
from service.delivery.fit import (
    DEFAULT_MAX_REQUEST_SIZE,
    about_the_record,
    fitting_copies,
    record_size,
)
from service.kafka_seam import Producer

__all__ = ["KafkaDeadLetterSink", "KafkaRecordSink", "send_fitting"]

log = structlog.get_logger("enricher.sink")


async def send_fitting(
    producer: Producer,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    *,
    limit: int,
) -> Any:
    """Send the most complete copy that fits ``limit`` and that the broker accepts; returns
    the producer's record metadata. Raises what is not about the record, and what refuses even
    the bare copy (a limit below our own headers is a configuration error)."""
    fitting = fitting_copies(key, value, headers, limit)
    for n, form in enumerate(fitting):
        try:
            metadata = await producer.send_and_wait(
                topic, value=form.value, key=form.key, headers=form.headers
            )
        except Exception as exc:
            if n + 1 == len(fitting) or not about_the_record(exc):
                raise
            log.warning("copy_refused", topic=topic, omitted=",".join(form.omitted), error=str(exc))
            continue
        if form.omitted:
            log.warning(
                "copy_omitted",
                topic=topic,
                omitted=",".join(form.omitted),
                value_size=len(value or b""),
                record_size=record_size(key, value, headers),
                limit=limit,
            )
        return metadata
    raise AssertionError("unreachable: the last form either returns or raises")


class KafkaRecordSink:
    def __init__(
        self, producer: Producer, *, max_record_size: int = DEFAULT_MAX_REQUEST_SIZE
    ) -> None:
        self._producer = producer
        self._limit = max_record_size

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
    ) -> None:
        await send_fitting(self._producer, topic, key, value, headers, limit=self._limit)


class KafkaDeadLetterSink:
    def __init__(
        self, producer: Producer, topic: str, *, max_record_size: int = DEFAULT_MAX_REQUEST_SIZE
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._limit = max_record_size

    async def send(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
        letter: DeadLetter,
    ) -> None:
        await send_fitting(
            self._producer,
            self._topic,
            key,
            value,
            dead_letter_headers(headers, letter),
            limit=self._limit,
        )
