"""Durable writes to our own topics (the DLQ and the retry tiers): an aiokafka producer with
acks=all behind the sink seams, so the pipeline commits only what is safely elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.delivery.dead_letter import DeadLetter, dead_letter_headers

__all__ = ["KafkaDeadLetterSink", "KafkaRecordSink"]


class KafkaRecordSink:
    def __init__(self, producer: Any) -> None:
        self._producer = producer

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
    ) -> None:
        await self._producer.send_and_wait(topic, value=value, key=key, headers=list(headers))


class KafkaDeadLetterSink:
    def __init__(self, producer: Any, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def send(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
        letter: DeadLetter,
    ) -> None:
        await self._producer.send_and_wait(
            self._topic, value=value, key=key, headers=dead_letter_headers(headers, letter)
        )
