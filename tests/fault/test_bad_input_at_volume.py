"""Bad input at volume: a few hundred generated records, valid and invalid mixed,
through the real service (in-process, ``run_service``), the real broker and the real NICE
simulator over loopback, in one service run.

Hypothesis generates the batch once, with a fixed seed (:func:`generate_batch`); the service is
started once for the whole batch. Every record carries a trace header (``fault-test.n``), which
the DLQ keeps, so each dead letter is matched to exactly the record that caused it, whatever its
key or value. Each invalid record knows the DLQ reason it must get (the parser's check order:
size, JSON, object, type, version, schema, tenant, key, flattening); each valid record knows the
NICE fields it must leave at the simulator.

Two records the schema accepts once stopped the consumer: an interaction id with a control
character (which no HTTP header can carry) and a time within a day of the calendar's edge. The
batch keeps its valid ids plain and its times within 2000-2099; the tests at the end of this
module pin each of the two cases on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from service.delivery.dlq_reader import DeadLetterRecord
from tests.fault.cluster import out_of_order
from tests.integration.conftest import TENANTS_YAML, Running, wait_for
from tests.unit.factories import analytics_json, closed_json

pytestmark = [pytest.mark.fault]

SEED = 20261120
EXAMPLES = 12
"""Hypothesis examples drawn for the one batch; each adds one record of every invalid kind and
eight to twelve valid interactions."""
TRACE = "fault-test.n"
LIMIT = 64 * 1024
CHANNELS = ("voice", "chat", "sms", "email")

FAST_TENANTS_YAML = TENANTS_YAML.replace(
    "    delivery:", "    limits: {rate_per_second: 1000, max_concurrency: 64}\n    delivery:", 1
)
"""The integration tenant, with a rate limit that does not turn 150 deliveries into 8 s."""
assert FAST_TENANTS_YAML != TENANTS_YAML


# -- the records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    n: int
    topic: str
    """``closed`` or ``analytics``: which input topic it is produced to."""
    key: bytes | None
    value: bytes | None
    kind: str
    reason: str | None
    """The DLQ reason an invalid record must get; None for a valid record."""
    interaction: str | None = None
    contact: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    """Valid records: the NICE fields (after mapping) this record must leave at the contact."""


@dataclass(frozen=True)
class Invalid:
    topic: str
    key: bytes | None
    value: bytes | None
    kind: str
    reason: str


@dataclass(frozen=True)
class ValidInteraction:
    """A closed event and maybe an analytics result for one interaction; ids are set later."""

    suffix: str
    closed: dict[str, Any]
    analytics: dict[str, Any] | None
    analytics_first: bool


# -- strategies --------------------------------------------------------------------------------

ANY_CHAR = st.characters(exclude_categories=["Cs"])
"""Anything a JSON string can carry (lone surrogates cannot be UTF-8)."""
NO_CONTROL = st.characters(exclude_categories=("Cs", "Cc"))
"""Valid interaction ids in the batch; the control-character case has its own test at the end."""
PLAIN = st.characters(categories=("L", "N", "Zs"))
"""Letters, digits and spaces: no JSON escapes, so a padded value's size is predictable."""


def texts(min_size: int = 0, max_size: int = 30, alphabet: Any = ANY_CHAR) -> Any:
    return st.text(alphabet, min_size=min_size, max_size=max_size)


ids = texts(1, 40)
ints = st.integers(-(2**63), 2**64 - 1)
"""What JSON writers emit; the service reads a larger one as a float anyway."""
offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=offsets
)
occurred = moments.map(lambda moment: moment.isoformat())
numbers = st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False))
scalars = st.one_of(st.none(), st.booleans(), numbers, texts())
extra_names = texts(1, 30, st.characters(exclude_categories=["Cs"], exclude_characters=".")).map(
    lambda name: "x_" + name
)
"""Unmapped field names: never a mapped source, never an empty part once flattened."""
extras = st.dictionaries(
    extra_names,
    st.one_of(
        scalars,
        st.lists(scalars, max_size=4),
        st.dictionaries(extra_names, scalars, min_size=1, max_size=3),
    ),
    max_size=5,
)
huge_texts = st.builds(
    lambda piece, size: piece * (size // len(piece.encode()) + 1),
    texts(1, 8, PLAIN),
    st.integers(5_000, 45_000),
)
"""Large but within the 64 KiB event limit."""


@st.composite
def refs(draw: st.DrawFn, contact: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"contact_id": contact if contact is not None else draw(ids)}
    if draw(st.booleans()):
        ref["segment_id"] = draw(ids)
    if draw(st.booleans()):
        ref["x_future_platform_id"] = draw(scalars)  # unknown ref keys are ignored
    return ref


@st.composite
def closed_data(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {"crm_account": draw(st.one_of(texts(max_size=60), huge_texts))}
    if draw(st.booleans()):
        data["case_number"] = draw(st.one_of(st.integers(-(2**63), 2**63 - 1), texts(max_size=20)))
    if draw(st.booleans()):
        data["vip"] = draw(st.booleans())
    data.update(draw(extras))
    return data


@st.composite
def analytics_data(draw: st.DrawFn) -> dict[str, Any]:
    sentiment: dict[str, Any] = {"label": draw(texts(max_size=40))}
    if draw(st.booleans()):
        sentiment["score"] = draw(numbers)
    data: dict[str, Any] = {"sentiment": sentiment}
    if draw(st.booleans()):
        data["topics"] = draw(st.lists(texts(max_size=20), max_size=5))
    data.update(draw(extras))
    return data


@st.composite
def closed_bodies(
    draw: st.DrawFn, interaction: str | None = None, contact: str | None = None
) -> dict[str, Any]:
    body = closed_json(
        event_id=draw(ids),
        occurred_at=draw(occurred),
        interaction_id=interaction if interaction is not None else draw(ids),
        channel=draw(st.sampled_from(CHANNELS)),
        ref=draw(refs(contact)),
        data=draw(closed_data()),
    )
    status = draw(st.none() | ids)
    if status is None:
        del body["status"]
    else:
        body["status"] = status
    if draw(st.booleans()):
        body["x_added_by_a_newer_producer"] = draw(scalars)  # unknown keys are ignored
    return body


@st.composite
def analytics_bodies(
    draw: st.DrawFn, interaction: str | None = None, contact: str | None = None
) -> dict[str, Any]:
    body = analytics_json(
        event_id=draw(ids),
        occurred_at=draw(occurred),
        interaction_id=interaction if interaction is not None else draw(ids),
        data=draw(analytics_data()),
    )
    source = draw(st.none() | ids)
    if source is None:
        del body["source"]
    else:
        body["source"] = source
    if contact is not None and draw(st.booleans()):
        body["ref"] = {"contact_id": contact}
        body["channel"] = draw(st.sampled_from(CHANNELS))
    return body


PLACEHOLDER_INTERACTION = "\x00interaction"
PLACEHOLDER_CONTACT = "\x00contact"


@st.composite
def valid_interactions(draw: st.DrawFn) -> ValidInteraction:
    closed = draw(closed_bodies(PLACEHOLDER_INTERACTION, PLACEHOLDER_CONTACT))
    analytics = draw(st.none() | analytics_bodies(PLACEHOLDER_INTERACTION, PLACEHOLDER_CONTACT))
    return ValidInteraction(
        suffix=draw(texts(0, 40, NO_CONTROL)),
        closed=closed,
        analytics=analytics,
        analytics_first=draw(st.booleans()),
    )


base_bodies = st.one_of(closed_bodies(), analytics_bodies())
topics = st.sampled_from(("closed", "analytics"))
keys = st.one_of(st.none(), st.binary(min_size=1, max_size=30), ids.map(str.encode))


def dumps(body: Any) -> bytes:
    return orjson.dumps(body)


def key_of(body: Mapping[str, Any]) -> bytes:
    return f"{body['tenant']}:{body['interaction_id']}".encode()


def with_literal(body: dict[str, Any], literal: bytes) -> bytes:
    """``body`` as JSON with ``data.x_literal`` set to raw bytes no serializer would write."""
    marker = "\u2603marker\u2603"
    doc = dict(body, data={**body["data"], "x_literal": marker})
    encoded = dumps(doc)
    assert encoded.count(dumps(marker)) == 1
    return encoded.replace(dumps(marker), literal)


def not_json(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return True
    return False


@st.composite
def invalid_records(draw: st.DrawFn, kind: str) -> Invalid:
    """One invalid record of ``kind``, with the DLQ reason it must get."""
    topic = draw(topics)
    key, value, reason = draw(INVALID_KINDS[kind])
    return Invalid(topic, key, value, kind, reason)


Drawn = tuple[bytes | None, bytes | None, str]


def truncations(raw: bytes) -> Any:
    """Every proper prefix of a JSON object is invalid JSON."""
    return st.integers(0, len(raw) - 1).map(lambda cut: raw[:cut])


@st.composite
def bad_json(draw: st.DrawFn) -> Drawn:
    value = draw(
        st.one_of(
            st.binary(max_size=300).filter(not_json),
            base_bodies.map(dumps).flatmap(truncations),
            st.sampled_from(
                [b"{not json", b"{'type': 'interaction.closed'}", b'{"a": NaN}', b'{"a": 1,}']
            ),
            texts(max_size=50).map(str.encode).filter(not_json),
        )
    )
    return draw(keys), value, "not_json"


@st.composite
def tombstones(draw: st.DrawFn) -> Drawn:
    key = draw(st.binary(min_size=1, max_size=30) | ids.map(str.encode))  # Kafka wants one
    return key, None, "not_json"


@st.composite
def non_utf8(draw: st.DrawFn) -> Drawn:
    body = draw(base_bodies)
    bad = draw(
        st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80abc", b"\xf8\x88\x80"])
    )
    return key_of(body), with_literal(body, b'"' + bad + b'"'), "not_json"


json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts(max_size=10), children),
    max_leaves=10,
)


@st.composite
def not_objects(draw: st.DrawFn) -> Drawn:
    value = draw(st.one_of(scalars, st.lists(json_values, max_size=4)))
    return draw(keys), dumps(value), "not_an_object"


@st.composite
def unknown_types(draw: st.DrawFn) -> Drawn:
    body = draw(base_bodies)
    wrong = draw(
        st.one_of(
            texts().filter(lambda t: t not in ("interaction.closed", "analytics.result")),
            ints,
            st.none(),
            st.lists(ints, max_size=2),
            st.just("INTERACTION.CLOSED"),
        )
    )
    if draw(st.booleans()):
        body["type"] = wrong
    else:
        del body["type"]
    return key_of(body), dumps(body), "unknown_type"


@st.composite
def unsupported_versions(draw: st.DrawFn) -> Drawn:
    body = draw(base_bodies)
    wrong = draw(
        st.one_of(
            ints.filter(lambda v: v != 1),
            st.just(True),
            st.just(1.0),
            st.just("1"),
            st.none(),
        )
    )
    if draw(st.booleans()):
        body["version"] = wrong
    else:
        del body["version"]
    return key_of(body), dumps(body), "unsupported_version"


too_long_ids = ids.map(lambda text: (text * 300)[:300])
not_strings = st.one_of(ints, st.booleans(), st.lists(ints, max_size=2), st.just({"a": 1}))
WRONG_VALUES: dict[str, Any] = {
    "event_id": st.one_of(not_strings, st.none(), st.just(""), too_long_ids),
    "occurred_at": st.one_of(
        st.datetimes(min_value=datetime(2000, 1, 1)).map(datetime.isoformat),  # no offset
        texts(max_size=20).map(lambda t: "x" + t),
        st.sampled_from(["2026-13-40T10:15:00Z", "yesterday", "", "2026-11-20 25:00Z"]),
        st.none(),
        st.lists(ints, max_size=2),
    ),
    "tenant": st.one_of(
        not_strings,
        st.none(),
        st.sampled_from(["", "ac me", "-acme", "a" * 65, "acme!", "acme:x"]),
    ),
    "interaction_id": st.one_of(not_strings, st.none(), st.just(""), too_long_ids),
    "channel": st.one_of(ints, texts().filter(lambda t: t not in CHANNELS), st.just("VOICE")),
    "ref": st.one_of(
        texts(),
        ints,
        st.lists(ints, max_size=2),
        ints.map(lambda i: {"contact_id": i}),
        st.just({"media": "fax"}),
        st.just({"contact_id": ""}),
    ),
    "data": st.one_of(texts(), ints, st.lists(ints, max_size=2), st.none()),
    "status": st.one_of(ints, st.just(""), st.lists(ids, max_size=2)),
    "source": st.one_of(ints, st.just(""), st.just({"name": "x"})),
}


@st.composite
def wrong_types(draw: st.DrawFn) -> Drawn:
    body = draw(base_bodies)
    closed = body["type"] == "interaction.closed"
    names = [n for n in WRONG_VALUES if n != ("source" if closed else "status")]
    name = draw(st.sampled_from(names))
    body[name] = draw(WRONG_VALUES[name])
    return b"acme:wrong-type", dumps(body), "invalid_event"


@st.composite
def missing_fields(draw: st.DrawFn) -> Drawn:
    body = draw(base_bodies)
    required = ["event_id", "occurred_at", "tenant", "interaction_id"]
    if body["type"] == "interaction.closed":
        required += ["channel", "ref"]
    name = draw(st.sampled_from(required))
    del body[name]
    return draw(keys), dumps(body), "invalid_event"


@st.composite
def unknown_tenants(draw: st.DrawFn) -> Drawn:
    body = draw(base_bodies)
    body["tenant"] = draw(
        st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,20}\Z").filter(lambda t: t != "acme")
    )
    return key_of(body), dumps(body), "unknown_tenant"


@st.composite
def wrong_keys(draw: st.DrawFn) -> Drawn:
    body = draw(base_bodies)
    right = key_of(body)
    key = draw(
        st.one_of(
            st.none(),
            st.binary(min_size=1, max_size=30),
            st.just(b"\xff" + right),
            ids.map(lambda other: f"acme:{other}".encode()),
            st.just(b"globex:" + right.split(b":", 1)[1]),
            st.just(right + b" "),
        ).filter(lambda k: k != right)
    )
    return key, dumps(body), "key_mismatch"


@st.composite
def oversize(draw: st.DrawFn) -> Drawn:
    extra = draw(st.integers(1, 100_000))
    if draw(st.booleans()):
        return draw(keys), b"\x00" * (LIMIT + extra), "too_large"  # size is checked first
    body = draw(base_bodies)
    body["data"] = {**body["data"], "x_pad": "p" * (LIMIT + extra)}
    return key_of(body), dumps(body), "too_large"


@st.composite
def huge_numbers(draw: st.DrawFn) -> Drawn:
    body = draw(base_bodies)
    literal = draw(st.sampled_from([b"1e400", b"-1e999", b"1" * 400, b"[" * 1100 + b"]" * 1100]))
    return key_of(body), with_literal(body, literal), "not_json"


@st.composite
def too_many_fields(draw: st.DrawFn) -> Drawn:
    body = draw(base_bodies)
    count = draw(st.integers(201, 400))
    nested = draw(st.booleans())
    fields: dict[str, Any] = (
        {"x_many": {f"f{i}": i for i in range(count)}}
        if nested
        else {f"x_f{i}": draw(scalars) for i in range(count)}
    )
    body["data"] = fields
    return key_of(body), dumps(body), "too_many_fields"


@st.composite
def long_field_names(draw: st.DrawFn) -> Drawn:
    body = draw(base_bodies)
    if draw(st.booleans()):
        name = "x_" + draw(texts(1, 8, PLAIN)) * 200
        data: dict[str, Any] = {name[: draw(st.integers(129, 1000))]: draw(scalars)}
    else:
        data = {"x_leaf": draw(scalars)}
        for level in range(draw(st.integers(70, 200))):  # orjson writes 254 levels at most
            data = {f"n{level % 10}": data}
    body["data"] = {**draw(extras), **data}
    return key_of(body), dumps(body), "field_name_too_long"


@st.composite
def nested_garbage(draw: st.DrawFn) -> Drawn:
    body = draw(base_bodies)
    leaf = draw(scalars)
    garbage: dict[str, Any] = draw(
        st.sampled_from(
            [
                {"x_list": [{"a": leaf}]},
                {"x_list": [[leaf]]},
                {"x_list": [leaf, {"b": [leaf]}]},
                {"": leaf},
                {"x..y": leaf},
                {".x": leaf},
                {"x.": leaf},
                {"x_a": {"": leaf}},
                {"x_a.b": leaf, "x_a": {"b": leaf}},
            ]
        )
    )
    body["data"] = {**draw(extras), **garbage}
    return key_of(body), dumps(body), "invalid_event"


INVALID_KINDS: dict[str, Any] = {
    "bad_json": bad_json(),
    "tombstone": tombstones(),
    "non_utf8": non_utf8(),
    "not_an_object": not_objects(),
    "unknown_type": unknown_types(),
    "unsupported_version": unsupported_versions(),
    "wrong_type": wrong_types(),
    "missing_field": missing_fields(),
    "unknown_tenant": unknown_tenants(),
    "wrong_key": wrong_keys(),
    "oversize": oversize(),
    "huge_number": huge_numbers(),
    "too_many_fields": too_many_fields(),
    "long_field_name": long_field_names(),
    "nested_garbage": nested_garbage(),
}


# -- the batch ---------------------------------------------------------------------------------


def generate_batch() -> list[Record]:
    """One batch, the same on every run: Hypothesis draws it over ``EXAMPLES`` examples with a
    fixed seed and no example database, and nothing here runs the service."""
    drafts: list[ValidInteraction | Invalid] = []

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )
    @given(st.data())
    def draw(data: st.DataObject) -> None:
        # One record of every invalid kind per example, so each kind is in the batch with as
        # many variants as there are examples, whatever Hypothesis's choices.
        valid = data.draw(st.lists(valid_interactions(), min_size=8, max_size=12))
        invalid = [data.draw(invalid_records(kind)) for kind in INVALID_KINDS]
        drafts.extend(data.draw(st.permutations([*valid, *invalid])))

    draw()
    batch: list[Record] = []
    for draft in drafts:
        if isinstance(draft, Invalid):
            batch.append(
                Record(len(batch), draft.topic, draft.key, draft.value, draft.kind, draft.reason)
            )
        else:
            batch.extend(_finish(draft, len(batch)))
    return batch


def _finish(draft: ValidInteraction, n: int) -> list[Record]:
    """Give a valid interaction its unique ids and work out what NICE must end up holding."""
    interaction = f"v{n}-{draft.suffix}"
    contact = str(7_000_000 + n)

    def fill(body: dict[str, Any], n: int) -> dict[str, Any]:
        body = {**body, "interaction_id": interaction, "event_id": f"e{n}-{body['event_id']}"}
        if isinstance(body.get("ref"), dict):
            body["ref"] = {**body["ref"], "contact_id": contact}
        return body

    closed = fill(draft.closed, n)
    data = closed["data"]
    closed_fields: dict[str, Any] = {"CrmAccount": data["crm_account"]}
    if "case_number" in data:
        closed_fields["CaseNumber"] = str(data["case_number"])
    if "vip" in data:
        closed_fields["Vip"] = data["vip"]
    records = [("closed", closed, closed_fields)]
    if draft.analytics is not None:
        analytics = fill(draft.analytics, n + 1)
        sentiment = analytics["data"]["sentiment"]
        analytics_fields: dict[str, Any] = {"Sentiment": sentiment["label"]}
        if "score" in sentiment:
            analytics_fields["SentimentScore"] = sentiment["score"]
        if "topics" in analytics["data"]:
            analytics_fields["Topics"] = ", ".join(analytics["data"]["topics"])
        entry = ("analytics", analytics, analytics_fields)
        records.insert(0 if draft.analytics_first else 1, entry)
    out = []
    for offset, (topic, body, fields) in enumerate(records):
        value = dumps(body)
        assert len(value) <= LIMIT, "a valid record must be within the event size limit"
        out.append(
            Record(
                n + offset,
                topic,
                key_of(body),
                value,
                f"valid_{topic}",
                None,
                interaction,
                contact,
                fields,
            )
        )
    return out


# -- watching the service ----------------------------------------------------------------------


@dataclass
class Watch:
    """``/healthz`` and the service task, sampled every 50 ms while the batch flows."""

    statuses: Counter[int] = field(default_factory=Counter)
    task_done_at: float | None = None

    async def run(self, running: Running, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                status = (await running.http.get("/healthz")).status_code
            except httpx.HTTPError:
                status = -1
            self.statuses[status] += 1
            if running.task.done() and self.task_done_at is None:
                self.task_done_at = time.monotonic()
            await asyncio.sleep(0.05)


def metric_total(running: Running, name: str) -> float:
    return sum(
        sample.value
        for family in running.service.metrics.registry.collect()
        for sample in family.samples
        if sample.name == name
    )


def trace_of(record: DeadLetterRecord) -> int | None:
    for name, value in record.headers:
        if name == TRACE:
            return int(value)
    return None


async def contacts_fields(running: Running) -> dict[str, dict[str, Any]]:
    """Every contact's first segment, in one call to the simulator's control API."""
    response = await running.sim.control.get("/_sim/contacts")
    response.raise_for_status()
    return {c["contact_id"]: dict(next(iter(c["segments"].values()), {})) for c in response.json()}


def delivered(record: Record, stored: Mapping[str, Mapping[str, Any]]) -> bool:
    at_vendor = stored.get(record.contact or "", {})
    return all(
        name in at_vendor and at_vendor[name] == value for name, value in record.fields.items()
    )


# -- the test ---------------------------------------------------------------------------------


@dataclass
class Observed:
    letters: list[DeadLetterRecord]
    stored: dict[str, dict[str, Any]]
    produce_seconds: float
    settle_seconds: float


async def produce_and_settle(running: Running, batch: list[Record], timeout: float) -> Observed:
    """Produce the whole batch, then wait until every invalid record has a dead letter and
    every valid one is at the simulator (or ``timeout`` passes, or the service stops)."""
    valid = [r for r in batch if r.reason is None]
    invalid = len(batch) - len(valid)
    topic = {"closed": running.settings.topic_closed, "analytics": running.settings.topic_analytics}
    started = time.monotonic()
    sends = [
        await running.producer.send(
            topic[r.topic], value=r.value, key=r.key, headers=[(TRACE, str(r.n).encode())]
        )
        for r in batch
    ]
    await asyncio.gather(*sends)
    sent = time.monotonic()
    observed = Observed([], {}, sent - started, 0.0)

    async def settled() -> bool:
        if running.task.done():
            return True  # stopped: no point waiting; the assertions say why
        observed.letters = await running.dead_letters()
        observed.stored = await contacts_fields(running)
        return len(observed.letters) >= invalid and all(
            delivered(r, observed.stored) for r in valid
        )

    with contextlib.suppress(AssertionError):  # whatever is missing is counted and reported
        await wait_for(settled, timeout, "every record delivered or dead-lettered")
    observed.settle_seconds = time.monotonic() - sent
    observed.letters = await running.dead_letters()
    observed.stored = await contacts_fields(running)
    return observed


def short(value: bytes | None, limit: int = 120) -> str:
    return repr(value if value is None or len(value) <= limit else value[:limit] + b"...")


async def test_hundreds_of_mixed_records_are_each_delivered_or_dead_lettered_with_a_reason(
    run_service: Callable[..., Any],
) -> None:
    batch = generate_batch()
    valid = [r for r in batch if r.reason is None]
    invalid = {r.n: r for r in batch if r.reason is not None}
    kinds = Counter(r.kind for r in batch)
    assert set(INVALID_KINDS) <= set(kinds), f"the batch misses a kind: {sorted(kinds)}"
    assert len(batch) >= 250
    assert len(valid) >= 100
    assert len(invalid) >= 100

    async with run_service(tenants_yaml=FAST_TENANTS_YAML) as running:
        contacts = sorted({r.contact for r in valid if r.contact is not None})
        await asyncio.gather(*(running.sim.contact(c) for c in contacts))
        watch, stop = Watch(), asyncio.Event()
        watcher = asyncio.create_task(watch.run(running, stop))
        try:
            observed = await produce_and_settle(running, batch, timeout=60)
        finally:
            stop.set()
            await watcher
        healthz_after = (await running.http.get("/healthz")).status_code
        bad_input_total = metric_total(running, "enricher_bad_input_total")
        delivered_total = metric_total(running, "enricher_delivered_total")
        stale = out_of_order(await running.sim.puts())
        service_stopped = running.task.done()
        topic_names = {
            "closed": running.settings.topic_closed,
            "analytics": running.settings.topic_analytics,
        }

    by_trace: dict[int | None, list[DeadLetterRecord]] = {}
    for letter in observed.letters:
        by_trace.setdefault(trace_of(letter), []).append(letter)
    dead = {n for n in invalid if n in by_trace}
    arrived = {r.n for r in valid if delivered(r, observed.stored)}
    valid_dead = {r.n for r in valid if r.n in by_trace}
    lost = [r for r in batch if r.n not in dead | arrived | valid_dead]
    print(
        f"\nbatch: {len(batch)} records over {len(contacts)} valid interactions; "
        f"kinds: {dict(sorted(kinds.items()))}"
        f"\nsent valid {len(valid)}, sent invalid {len(invalid)}, delivered {len(arrived)}, "
        f"dead-lettered {len(dead)} (+{len(valid_dead)} valid), lost {len(lost)}; "
        f"DLQ records {len(observed.letters)}"
        f"\nproduce {observed.produce_seconds:.1f}s, settle {observed.settle_seconds:.1f}s; "
        f"/healthz samples {dict(watch.statuses)}; enricher_bad_input_total "
        f"{bad_input_total:g}, enricher_delivered_total {delivered_total:g}"
    )

    assert not service_stopped, "the service stopped"
    assert watch.task_done_at is None, "the service task finished while records were flowing"
    assert set(watch.statuses) == {200}, f"/healthz was not always 200: {watch.statuses}"
    assert healthz_after == 200
    assert lost == [], "\n".join(
        f"lost #{r.n} {r.kind}: key={short(r.key)} value={short(r.value)}" for r in lost
    )
    assert valid_dead == set(), [by_trace[n][0].provenance for n in sorted(valid_dead)]
    assert stale == {}, f"the vendor took an older revision after a newer one: {stale}"
    assert None not in by_trace, "a dead letter lost the original record's headers"
    for n, record in invalid.items():
        [letter] = by_trace[n]
        p = letter.provenance
        assert p["reason"] == record.reason, (n, record.kind, short(record.value), p)
        assert p["error_class"] == "BadInput"
        assert p["detail"]
        assert p["source_topic"] == topic_names[record.topic]
        assert letter.key == record.key, (n, record.kind)
        assert letter.value == record.value, (n, record.kind)  # acme masks nothing
    for r in valid:
        at_vendor = observed.stored[r.contact or ""]
        assert {k: at_vendor.get(k) for k in r.fields} == r.fields, (r.n, r.kind)
    assert bad_input_total == len(invalid)


# -- records the schema accepts that stop the consumer today -------------------------------------


async def settle_or_stop(running: Running, contact: str, expected: Mapping[str, Any]) -> None:
    """Wait until ``contact`` holds ``expected``, or the service task has finished."""

    async def done() -> bool:
        return running.task.done() or await running.sim.fields(contact) == expected

    await wait_for(done, 30, f"contact {contact} to hold {expected} (or the service to stop)")


AFTER = {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True}


async def test_an_occurred_at_at_the_edge_of_the_calendar_is_dead_lettered_not_fatal(
    run_service: Callable[..., Any],
) -> None:
    async with run_service() as running:
        await running.sim.contact("8000001")
        for n, at in enumerate(("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00")):
            edge = closed_json(event_id=f"edge-{n}", interaction_id=f"i-edge-{n}", occurred_at=at)
            await running.closed(edge)
        after = closed_json(
            event_id="after", interaction_id="i-after", ref={"contact_id": "8000001"}
        )
        await running.closed(after)
        await settle_or_stop(running, "8000001", AFTER)
        assert not running.task.done(), "the consumer stopped on a time at the calendar's edge"
        letters = await running.dead_letters()
        assert sorted(r.key or b"" for r in letters) == [b"acme:i-edge-0", b"acme:i-edge-1"]
        assert {r.provenance["error_class"] for r in letters} == {"BadInput"}


async def test_an_interaction_id_with_a_control_character_does_not_stop_the_consumer(
    run_service: Callable[..., Any],
) -> None:
    async with run_service() as running:
        await running.sim.contact("8000002")
        await running.sim.contact("8000003")
        odd = closed_json(event_id="ctl", interaction_id="i-ctl\n1", ref={"contact_id": "8000002"})
        await running.closed(odd)
        after = closed_json(
            event_id="after", interaction_id="i-after", ref={"contact_id": "8000003"}
        )
        await running.closed(after)
        odd_key = b"acme:i-ctl\n1"

        async def odd_settled() -> bool:
            if await running.sim.fields("8000002") == AFTER:
                return True
            return any(r.key == odd_key for r in await running.dead_letters())

        async def both_settled_or_stopped() -> bool:
            if running.task.done():
                return True
            return await running.sim.fields("8000003") == AFTER and await odd_settled()

        await wait_for(both_settled_or_stopped, 30, "both interactions settled (or a stop)")
        assert not running.task.done(), "the consumer stopped on a control character in an id"
