"""What a platform is to the rest of the service: one :class:`PlatformSpec`.

A platform is a package (built in under ``service/platforms/``, or a plug-in distribution
registered in the ``enricher.platforms`` entry-point group) whose ``SPEC`` says everything the
service needs to know about it: the id a tenants file names it by, the settings model of its
tenant block, how to build its adapter, its simulator and what dev mode shows of it. The tenant
loader, the delivery engine, the admin API and dev mode read the spec and never name a
platform, so adding one touches its own package only.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import SecretStr

from service.platforms.base import PlatformAdapter, WriteWindow
from service.tenant_fields import FieldMapping, RequestWindow, StrictModel
from service.transport import Transport

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "AdapterContext",
    "DevProfile",
    "PlatformSettings",
    "PlatformSpec",
    "SampleContext",
    "simulator_in",
]


class PlatformSettings(StrictModel):
    """The base of every platform's tenant block (``platform: X`` plus an ``X:`` block).

    Strict, like the whole tenants file: an unknown key is an error. Each field's docstring is
    its description in the generated tenants-file reference.
    """

    SECRETS: ClassVar[tuple[str, ...]] = ()
    """Settings that must be references, never literals in the file."""
    FIELD_FLAGS: ClassVar[frozenset[str]] = frozenset()
    """The optional flags of a field mapping (``service.tenant_fields.OPTIONAL_FLAGS``) this
    platform gives a meaning; a mapping that sets another is refused at load."""
    WRITE_WINDOW: ClassVar[WriteWindow] = "after_close"
    """When the platform takes writes, unless :meth:`write_window` says otherwise."""

    def request_window(self) -> RequestWindow | None:
        """The platform's documented request limit, which no configured rate may exceed; None
        where the platform documents none."""
        return None

    def write_window(self) -> WriteWindow:
        """``after_close``: analytics that arrive first wait for the close and go with it.
        ``live``: the interaction is written while it runs, and a write after it ended fails."""
        return self.WRITE_WINDOW

    def field_problems(self, fields: Mapping[str, FieldMapping]) -> list[str]:
        """Field names and flags the platform would refuse: caught at load (and by
        ``check-config``) rather than as a stream of rejected calls. Each problem starts with
        the setting it is about (``fields.Name: ...``)."""
        problems = []
        for name, rule in fields.items():
            refused = [flag for flag in rule.flags() if flag not in self.FIELD_FLAGS]
            if refused:
                verb, pronoun = ("means", "it") if len(refused) == 1 else ("mean", "them")
                problems.append(
                    f"fields.{name}: {', '.join(refused)} {verb} nothing on this platform; "
                    f"remove {pronoun}"
                )
        return problems

    def secret_values(self) -> list[str]:
        """Every secret as it may travel on the wire, for log and DLQ redaction."""
        values = []
        for name in self.SECRETS:
            secret = getattr(self, name)
            if isinstance(secret, SecretStr):
                values.append(secret.get_secret_value())
        return values


Settings = TypeVar("Settings", bound=PlatformSettings)


@dataclass(frozen=True)
class AdapterContext:
    """What an adapter factory gets: one tenant's block and mapping, and the shared pool."""

    tenant_name: str
    settings: PlatformSettings
    fields: Mapping[str, FieldMapping]
    transport: Transport
    timeout: float
    """Seconds one vendor call may take (the tenant's ``delivery.timeout``)."""

    def settings_as(self, model: type[Settings]) -> Settings:
        """The block as the platform's own model: the registry only hands a spec's factory
        blocks its own model validated, so anything else is a wiring mistake."""
        if not isinstance(self.settings, model):
            raise TypeError(
                f"tenant {self.tenant_name!r}: expected {model.__name__}, "
                f"got {type(self.settings).__name__}"
            )
        return self.settings


@dataclass(frozen=True)
class SampleContext:
    """What a sample interaction is drawn from: seeded, so a dev run can be repeated."""

    tenant: str
    n: int
    """The interaction's number in the run, for ids that read in order."""
    channel: str
    rng: random.Random


def _no_registration(ref: Mapping[str, str], channel: str) -> tuple[str, Mapping[str, Any]] | None:
    return None


def _no_release(ref: Mapping[str, str]) -> str | None:
    return None


def _no_close_data(rng: random.Random) -> Mapping[str, Any]:
    return {}


def _stored_as_is(body: Mapping[str, Any]) -> dict[str, object]:
    return dict(body)


@dataclass(frozen=True)
class DevProfile:
    """What ``enricher dev`` and ``enricher send --sample`` know about a platform: the
    environment the dev tenants file references, sample routing ids, and how to read the
    simulator's control API (``/_sim``)."""

    environ: Callable[[str], Mapping[str, str]]
    """The simulator's base URL to the ``${NAME}`` references the dev tenants file uses for
    this platform (its URL and dev credentials)."""
    sample_ref: Callable[[SampleContext], dict[str, str]]
    """The ids the platform addresses an interaction by, shaped like the vendor's own."""
    lookup: Callable[[Mapping[str, str]], str]
    """The control path that shows what the simulator stores for an interaction's ``ref``."""
    record_name: str
    """The vendor's own words for what it stores data on (``Acme contact``); the record's id
    follows it on the dev dashboard."""
    store_path: str
    """The control path listing everything the simulator stores, for the dev banner."""
    stored_fields: Callable[[Mapping[str, Any]], dict[str, object]] = _stored_as_is
    """The fields a control view's body says are stored; private values masked."""
    registration: Callable[[Mapping[str, str], str], tuple[str, Mapping[str, Any]] | None] = (
        _no_registration
    )
    """The control call (path, body) that makes an interaction exist at the simulator before
    the first write, where nothing else would create it; None where none is needed."""
    release: Callable[[Mapping[str, str]], str | None] = _no_release
    """The control path that ends a live interaction at the simulator (a released call), so
    dev traffic shows a write meeting a closed window; None where the platform has none."""
    close_data: Callable[[random.Random], Mapping[str, Any]] = _no_close_data
    """Fields the sample close carries on top of the common ones (a private value)."""
    simulator: Callable[[], FastAPI] | None = None
    """The simulator dev mode serves, where it needs more than the spec's bare defaults."""
    record_label: Callable[[str], str] | None = None
    """How to name a record by its lookup path, where its id is more than the path's last
    part; by default ``record_name`` and that part."""

    def label(self, lookup: str) -> str:
        """``Acme contact 1000005``: the vendor's own words for the record."""
        if self.record_label is not None:
            return self.record_label(lookup)
        return f"{self.record_name} {lookup.rstrip('/').rsplit('/', 1)[-1]}"


@dataclass(frozen=True)
class PlatformSpec:
    """Everything the service knows about one platform; ``SPEC`` in its package."""

    id: str
    """The tenants file's ``platform`` value and block key, e.g. ``acme-notes``."""
    title: str
    """How people name it, e.g. ``Acme Notes``."""
    settings: type[PlatformSettings]
    """The model of the tenant block."""
    create_adapter: Callable[[AdapterContext], PlatformAdapter]
    simulator: Callable[..., FastAPI] | None = None
    """The simulator's app factory; called bare, it builds an app with dev defaults."""
    dev: DevProfile | None = None
    """What ``enricher dev`` needs to run a sample tenant on it."""
    docs_page: str | None = None
    """The platform's page under ``docs/`` (``platforms/acme-notes.md``)."""


def simulator_in(module: str) -> Callable[..., FastAPI]:
    """The app factory ``create_app`` of ``module``, imported on first use: the service and
    its commands load no simulator (nor FastAPI for it) unless one is served."""

    def create_app(*args: Any, **kwargs: Any) -> FastAPI:
        factory: Callable[..., FastAPI] = importlib.import_module(module).create_app
        return factory(*args, **kwargs)

    return create_app
