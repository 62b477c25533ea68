"""Cost of the pure core per event: parse, merge and map, against decoding JSON alone.

The vendor call dominates the pipeline (about 65-90 us of client CPU per request with aiohttp
on these machines), so the core must stay a small fraction of that. Run with
``python -m bench.core [--events N]``; it prints events per second and microseconds per event
for the baseline (``orjson.loads``) and for each stage added on top, and the ratio to the
baseline.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from service.events import parse_event
from service.mapping import map_fields
from service.merge import LedgerEntry, merge_event
from service.tenants import FieldMapping

TENANTS = frozenset({"acme"})
MAPPING = {
    "Sentiment": FieldMapping.model_validate({"from": "sentiment.label"}),
    "SentimentScore": FieldMapping.model_validate({"from": "sentiment.score", "type": "number"}),
    "Topics": FieldMapping.model_validate({"from": "topics"}),
    "CrmAccount": FieldMapping.model_validate({"from": "crm_account"}),
    "CaseNumber": FieldMapping.model_validate({"from": "case_number", "type": "string"}),
}


def records(count: int, interactions: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(1)
    start = datetime(2026, 11, 20, tzinfo=UTC)
    out = []
    for n in range(count):
        interaction = f"call-{rng.randrange(interactions):06d}"
        at = (start + timedelta(seconds=rng.randrange(3600))).isoformat()
        body: dict[str, Any]
        if n % 2:
            body = {
                "type": "analytics.result",
                "source": "speech-analytics",
                "data": {
                    "sentiment": {"label": "negative", "score": -0.62},
                    "topics": ["billing", "cancel"],
                },
            }
        else:
            body = {
                "type": "interaction.closed",
                "channel": "voice",
                "status": "Handled",
                "ref": {"contact_id": str(n)},
                "data": {"crm_account": f"A-{n}", "case_number": n, "vip": n % 3 == 0},
            }
        body.update(
            version=1,
            event_id=str(uuid.UUID(int=rng.getrandbits(128))),
            occurred_at=at,
            tenant="acme",
            interaction_id=interaction,
        )
        out.append((f"acme:{interaction}".encode(), orjson.dumps(body)))
    return out


def measure(
    name: str,
    work: Callable[[list[tuple[bytes, bytes]]], None],
    data: list[tuple[bytes, bytes]],
    repeats: int = 3,
) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work(data)
        best = min(best, time.perf_counter() - started)
    return len(data) / best


def decode_only(data: list[tuple[bytes, bytes]]) -> None:
    for _, value in data:
        orjson.loads(value)


def parse_only(data: list[tuple[bytes, bytes]]) -> None:
    for key, value in data:
        parse_event(key, value, TENANTS)


def parse_merge_map(data: list[tuple[bytes, bytes]]) -> None:
    ledger: dict[str, LedgerEntry] = {}
    now = datetime.now(UTC)
    for key, value in data:
        event = parse_event(key, value, TENANTS)
        entry = merge_event(ledger.get(event.key), event, now).entry
        ledger[event.key] = entry
        map_fields(entry.field_values(), MAPPING)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--interactions", type=int, default=10_000)
    args = parser.parse_args()
    data = records(args.events, args.interactions)
    size = sum(len(v) for _, v in data) / len(data)
    print(f"{args.events} events of {size:.0f} bytes over {args.interactions} interactions")
    baseline = measure("decode", decode_only, data)
    print(f"{'stage':<32}{'events/s':>12}{'us/event':>10}{'vs baseline':>13}")
    for name, work in (
        ("baseline: orjson.loads", decode_only),
        ("parse + validate", parse_only),
        ("parse + merge + map", parse_merge_map),
    ):
        rate = baseline if work is decode_only else measure(name, work, data)
        print(f"{name:<32}{rate:>12,.0f}{1e6 / rate:>10.1f}{rate / baseline:>13.3f}")


if __name__ == "__main__":
    main()
