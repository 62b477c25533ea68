"""The DLQ writer: an aiokafka producer with acks=all behind the DeadLetterSink seam."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.delivery.dead_letter import DeadLetter, dead_letter_headers

__all__ = ["KafkaDeadLetterSink"]


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
