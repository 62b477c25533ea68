"""The sinks' answer to a refusal, against a stand-in producer: the embedded broker used by the
integration tests accepts records of any size and ignores ``max.message.bytes``, so a broker
that refuses a copy the producer took can only be played here."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from aiokafka.errors import (
    CorruptRecordException,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RecordListTooLargeError,
    UnsupportedForMessageFormatError,
)

from service.delivery.dead_letter import DeadLetter
from service.delivery.fit import OMITTED, about_the_record, record_size
from service.delivery.kafka_sink import KafkaDeadLetterSink, KafkaRecordSink


class Producer:
    """Refuses the first ``refusals`` sends with ``error``; records what it took."""

    def __init__(self, error: BaseException | None = None, refusals: int = 0) -> None:
        self.error = error
        self.refusals = refusals
        self.sent: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> object:
        if self.error is not None and self.refusals > 0:
            self.refusals -= 1
            raise self.error
        self.sent.append((topic, key, value, list(headers or ())))
        return object()


LETTER = DeadLetter("too_large", "interactions.closed", 2, 41, "0.1.0")


@pytest.mark.parametrize(
    ("error", "about_record"),
    [
        (MessageSizeTooLargeError(), True),
        (RecordListTooLargeError(), True),
        (CorruptRecordException(), True),
        (UnsupportedForMessageFormatError(), True),
        (KafkaConnectionError(), False),
        (KafkaTimeoutError(), False),
        (NotLeaderForPartitionError(), False),
        (RuntimeError("bug"), False),
    ],
)
def test_only_refusals_of_the_record_itself_count_as_about_the_record(
    error: BaseException, about_record: bool
) -> None:
    assert about_the_record(error) is about_record


async def test_a_copy_over_the_limit_is_never_offered_to_the_producer() -> None:
    producer = Producer()
    sink = KafkaDeadLetterSink(producer, "dlq", max_record_size=2_000)
    await sink.send(b"acme:i-1", b"x" * 1_990, [("traceparent", b"00")], LETTER)
    [(topic, key, value, headers)] = producer.sent
    assert (topic, key, value) == ("dlq", b"acme:i-1", b"")
    assert ("traceparent", b"00") in headers
    assert (OMITTED, b"value") in headers
    assert ("enricher.source_offset", b"41") in headers
    assert record_size(key, value, headers) <= 2_000


async def test_a_copy_the_broker_refuses_is_sent_again_smaller_and_the_service_goes_on() -> None:
    producer = Producer(MessageSizeTooLargeError(), refusals=1)
    sink = KafkaRecordSink(producer)
    await sink.send("retry.30s", b"acme:i-1", b'{"type": "x"}', [("enricher.retry.due", b"1")])
    [(_, key, value, headers)] = producer.sent
    assert (key, value) == (b"acme:i-1", b"")
    assert (OMITTED, b"value") in headers


async def test_refused_in_every_form_or_for_another_reason_is_still_fatal() -> None:
    everything = Producer(MessageSizeTooLargeError(), refusals=99)
    with pytest.raises(MessageSizeTooLargeError):
        await KafkaDeadLetterSink(everything, "dlq").send(b"k", b"v", [], LETTER)
    assert everything.sent == []
    down = Producer(KafkaConnectionError(), refusals=1)
    with pytest.raises(KafkaConnectionError):
        await KafkaDeadLetterSink(down, "dlq").send(b"k", b"v", [], LETTER)
    assert down.sent == []
