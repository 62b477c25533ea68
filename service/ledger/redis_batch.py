"""Scripts called in one turn of the event loop, sent to Redis as one pipeline.

Every ledger operation is one Lua script, and a busy replica has hundreds of them waiting at any
moment. Sent one by one, each pays for a pool checkout, a socket write, a read timeout and a
task wake-up: in redis-py that is about 100 µs of CPU, most of a Redis delivery's cost. Queued
until the loop has run every ready task, then sent together over one connection, they pay for
those once per batch; only packing and parsing stay per script. This is what ioredis calls
auto-pipelining.

A batch is not a transaction: each script is atomic on its own, and a batch's scripts run one
after another like any commands from several clients. A connection error fails the whole batch,
and every caller sees it as it would have alone (the ledger's callers wait out an unavailable
store and repeat; every script is safe to repeat). A script that Redis does not know (it
restarted and lost its script cache) is loaded and run again once.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

__all__ = ["MAX_BATCH", "ScriptBatcher", "ScriptCall"]

MAX_BATCH = 512
"""Scripts in one pipeline at most, so one reply never holds a connection for long."""


@dataclass(frozen=True, slots=True)
class _Queued:
    sha: str
    source: str
    keys: Sequence[str]
    args: Sequence[Any]
    answer: asyncio.Future[Any]


class ScriptCall:
    """One registered script: ``await call(keys=[...], args=[...])`` runs it in the next batch."""

    __slots__ = ("_batcher", "sha", "source")

    def __init__(self, batcher: ScriptBatcher, source: str) -> None:
        self._batcher = batcher
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __call__(self, *, keys: Sequence[str], args: Sequence[Any]) -> asyncio.Future[Any]:
        return self._batcher.submit(self, keys, args)


class ScriptBatcher:
    def __init__(self, redis: Redis, *, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._redis = redis
        self._max_batch = max_batch
        self._queued: list[_Queued] = []
        self._flushing = False
        self._sending: set[asyncio.Task[None]] = set()

    def register(self, source: str) -> ScriptCall:
        return ScriptCall(self, source)

    def submit(
        self, script: ScriptCall, keys: Sequence[str], args: Sequence[Any]
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        self._queued.append(_Queued(script.sha, script.source, keys, args, answer))
        if not self._flushing:
            self._flushing = True
            loop.call_soon(self._flush)
        return answer

    def _flush(self) -> None:
        self._flushing = False
        queued, self._queued = self._queued, []
        for start in range(0, len(queued), self._max_batch):
            task = asyncio.get_running_loop().create_task(
                self._send(queued[start : start + self._max_batch])
            )
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Queued]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for call in batch:
                    pipe.execute_command(
                        "EVALSHA", call.sha, len(call.keys), *call.keys, *call.args
                    )
                results = await pipe.execute(raise_on_error=False)
        except BaseException as exc:
            for call in batch:
                if not call.answer.done():
                    call.answer.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        unknown = []
        for call, result in zip(batch, results, strict=True):
            if isinstance(result, NoScriptError):
                unknown.append(call)
            elif call.answer.done():
                continue
            elif isinstance(result, Exception):
                call.answer.set_exception(result)
            else:
                call.answer.set_result(result)
        if unknown:
            await self._load_and_run(unknown)

    async def _load_and_run(self, calls: list[_Queued]) -> None:
        """Redis forgot the scripts (a restart, ``SCRIPT FLUSH``): load them, run these once,
        each on its own, so one refused call fails only its caller. Forgotten again in between
        (a failover) reads as the store being unavailable, which callers wait out."""
        try:
            for source in {call.source for call in calls}:
                await self._redis.script_load(source)
        except Exception as exc:
            for call in calls:
                if not call.answer.done():
                    call.answer.set_exception(exc)
            return
        for call in calls:
            try:
                result = await self._redis.evalsha(call.sha, len(call.keys), *call.keys, *call.args)
            except NoScriptError as exc:
                lost = ConnectionError(f"Redis forgot the ledger's scripts again: {exc}")
                if not call.answer.done():
                    call.answer.set_exception(lost)
            except Exception as exc:
                if not call.answer.done():
                    call.answer.set_exception(exc)
            else:
                if not call.answer.done():
                    call.answer.set_result(result)

    async def close(self) -> None:
        """Let batches already sent finish, so no caller is left waiting."""
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
