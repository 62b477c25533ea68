"""``enricher topics`` as a user runs it against a real broker."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from click.testing import CliRunner

from service.cli import main
from service.kafka_admin import ensure_topics
from tests.integration.cli_support import command_env

pytestmark = pytest.mark.integration


@pytest.fixture
def env(kafka_bootstrap: str) -> dict[str, str]:
    return command_env(kafka_bootstrap)


def topics(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["topics", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def names(env: dict[str, str]) -> list[str]:
    prefix = env["ENRICHER_TOPIC_RETRY_PREFIX"]
    return [
        env["ENRICHER_TOPIC_CLOSED"],
        env["ENRICHER_TOPIC_ANALYTICS"],
        f"{prefix}1s",
        f"{prefix}2s",
        env["ENRICHER_TOPIC_DLQ"],
    ]


def test_list_create_list(env: dict[str, str], kafka_bootstrap: str) -> None:
    closed, analytics, *_ = names(env)
    asyncio.run(ensure_topics(kafka_bootstrap, {closed: 3}))
    code, out, err = topics(env, "list")
    assert code == 0, err
    assert re.search(rf"^{closed}\s+input \(interaction.closed\)\s+3$", out, re.M), out
    assert re.search(rf"^{analytics}\s+input \(analytics.result\)\s+missing$", out, re.M), out
    assert "retry tier 2 (2s)" in out
    assert "4 of 5 missing" in err

    code, out, err = topics(env, "create", "--partitions", "2")
    assert code == 0, err
    assert f"already existed  {closed} (3 partitions)" in out
    for name in names(env)[1:]:
        assert f"created  {name} (2 partitions, replication factor 1)" in out
    assert "must have the same partition count" in err
    assert "3 and 2" in err

    code, out, _ = topics(env, "list")
    assert "missing" not in out
    assert re.search(rf"^{analytics}\s+input \(analytics.result\)\s+2$", out, re.M), out


def test_create_matches_the_existing_input_when_not_told_otherwise(
    env: dict[str, str], kafka_bootstrap: str
) -> None:
    closed, analytics, *_ = names(env)
    asyncio.run(ensure_topics(kafka_bootstrap, {analytics: 3}))
    code, out, err = topics(env, "create")
    assert code == 0, err
    assert f"created  {closed} (3 partitions, replication factor 1)" in out
    assert f"created  {env['ENRICHER_TOPIC_DLQ']} (8 partitions" in out
    assert "partition count" in err
    assert "differ" not in err


def test_lag_per_partition_with_and_without_a_commit(
    env: dict[str, str], kafka_bootstrap: str
) -> None:
    closed, analytics, retry1, retry2, _ = names(env)
    group = env["ENRICHER_GROUP_ID"]
    asyncio.run(ensure_topics(kafka_bootstrap, dict.fromkeys(names(env), 2)))
    asyncio.run(_produce(kafka_bootstrap, closed, 0, 5))
    asyncio.run(_produce(kafka_bootstrap, analytics, 1, 3))

    code, out, err = topics(env, "lag")
    assert code == 0, err
    assert group in out
    assert re.search(rf"^{closed}\s+0\s+no commit\s+5\s+5$", out, re.M), out
    assert "total lag 8" in out
    assert "8 partition(s) with no commit" in out

    asyncio.run(_commit(kafka_bootstrap, group, {TopicPartition(closed, 0): 2}))
    code, out, err = topics(env, "lag")
    assert code == 0, err
    assert re.search(rf"^{closed}\s+0\s+2\s+5\s+3$", out, re.M), out
    assert re.search(rf"^{analytics}\s+1\s+no commit\s+3\s+3$", out, re.M), out
    assert re.search(rf"^{retry2}\s+1\s+no commit\s+0\s+0$", out, re.M), out
    assert retry1 in out
    assert "total lag 6" in out
    assert "7 partition(s) with no commit" in out


def test_commands_name_the_broker_that_does_not_answer(env: dict[str, str]) -> None:
    env = {**env, "ENRICHER_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    for command in ("list", "create", "lag"):
        code, _, err = topics(env, command)
        assert code == 3, command
        assert "127.0.0.1:9 (ENRICHER_KAFKA_BOOTSTRAP_SERVERS)" in err
        assert "Traceback" not in err


async def _produce(bootstrap: str, topic: str, partition: int, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(topic, b"x", key=b"k%d" % n, partition=partition)
    finally:
        await producer.stop()


async def _commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()
