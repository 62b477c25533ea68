"""Topic creation at start-up (``ENRICHER_CREATE_TOPICS``).

Existing topics are left exactly as they are: changing partition counts re-keys the
co-partitioned inputs, so that stays an operator's decision.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

__all__ = ["TopicCreationError", "admin_options", "ensure_topics"]

_ADMIN_OPTIONS = frozenset(inspect.signature(AIOKafkaAdminClient.__init__).parameters) - {
    "self",
    "loop",
}


class TopicCreationError(RuntimeError):
    """The broker refused to create one or more topics."""


async def ensure_topics(
    bootstrap_servers: str,
    topics: Mapping[str, int],
    *,
    replication_factor: int = 1,
    client_kwargs: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create the topics (name → partitions) that do not exist yet; return the names created.

    Safe to run from several replicas at once: a topic another replica created in between
    counts as existing, not as an error. ``client_kwargs`` may be the options shared with the
    consumer and producer; the ones the admin client does not take are ignored.
    """
    _check_partitions(topics)
    admin = AIOKafkaAdminClient(**admin_options(bootstrap_servers, client_kwargs))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)
            for name, partitions in topics.items()
            if name not in existing
        ]
        if not missing:
            return []
        response = await admin.create_topics(missing)
    finally:
        await admin.close()
    return _created(response, [topic.name for topic in missing])


def _check_partitions(topics: Mapping[str, int]) -> None:
    bad = {name: count for name, count in topics.items() if count < 1}
    if bad:
        raise ValueError(f"every topic needs at least one partition: {bad}")


def admin_options(
    bootstrap_servers: str, client_kwargs: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The shared client options an admin client takes (it refuses the producer's)."""
    options = {k: v for k, v in (client_kwargs or {}).items() if k in _ADMIN_OPTIONS}
    options["bootstrap_servers"] = bootstrap_servers
    return options


def _created(response: Any, requested: list[str]) -> list[str]:
    """Names the broker created, in request order; raises on any refusal but "exists"."""
    created: list[str] = []
    failures: list[str] = []
    for entry in response.topic_errors:
        name, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else None
        if code == 0:
            created.append(name)
            continue
        error = for_code(code)
        if error is TopicAlreadyExistsError:
            continue
        failures.append(f"{name}: {error.__name__} ({code}){f': {message}' if message else ''}")
    if failures:
        raise TopicCreationError("could not create topics: " + "; ".join(failures))
    order = {name: index for index, name in enumerate(requested)}
    return sorted(created, key=lambda name: order.get(name, len(order)))
