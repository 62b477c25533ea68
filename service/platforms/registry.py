"""The one list of platforms: the four built in and every plug-in found in the
``enricher.platforms`` entry-point group.

Each entry point loads a :class:`~service.platforms.spec.PlatformSpec`. A plug-in that does not
load, is not a spec, or takes an id another platform already has stops the service at start-up
(and ``enricher check-config``) with a :class:`PlatformPluginError` naming its distribution: a
tenants file must never mean something else because a package happened to be installed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from service.platforms.base import PlatformAdapter
from service.platforms.spec import AdapterContext, PlatformSettings, PlatformSpec
from service.transport import Transport

if TYPE_CHECKING:
    from service.tenants import Tenant

__all__ = [
    "BUILT_IN",
    "ENTRY_POINT_GROUP",
    "PlatformId",
    "PlatformPluginError",
    "UnknownPlatform",
    "build_adapter",
    "built_in",
    "collect",
    "spec_for",
    "specs",
]

ENTRY_POINT_GROUP = "enricher.platforms"
BUILT_IN = (
    "service.platforms.nice_cxone",
    "service.platforms.sinch_contact_pro",
    "service.platforms.eight_by_eight",
    "service.platforms.genesys_gws",
    "service.platforms.http",
)
"""Modules whose ``SPEC`` is a built-in platform, in the order they are listed everywhere."""

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
_RESERVED = frozenset({"platform", "limits", "delivery", "retention", "fields"})
"""A tenant's own keys, which no platform block may be named."""


class PlatformPluginError(Exception):
    """A plug-in that cannot be used; the message names its distribution."""


class UnknownPlatform(LookupError):
    """A platform id no spec has; the message lists the known ones."""


def collect(
    built_in: Iterable[PlatformSpec], plugins: Iterable[EntryPoint]
) -> dict[str, PlatformSpec]:
    """Every spec by id, the built-in ones first, each plug-in checked as it is loaded."""
    found: dict[str, PlatformSpec] = {}
    origin: dict[str, str] = {}
    for spec in built_in:
        _add(found, origin, spec, "the enricher itself")
    for entry in plugins:
        where = _distribution(entry)
        try:
            loaded = entry.load()
        except Exception as exc:
            raise PlatformPluginError(
                f"platform plug-in {entry.name!r} from {where} does not load "
                f"({entry.value}): {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(loaded, PlatformSpec):
            raise PlatformPluginError(
                f"platform plug-in {entry.name!r} from {where} is a "
                f"{type(loaded).__name__}, not a PlatformSpec ({entry.value})"
            )
        _add(found, origin, loaded, where)
    return found


def _add(
    found: dict[str, PlatformSpec], origin: dict[str, str], spec: PlatformSpec, where: str
) -> None:
    if not _ID.fullmatch(spec.id) or spec.id in _RESERVED:
        raise PlatformPluginError(
            f"platform {spec.id!r} from {where}: an id is lower-case letters, digits and '-' "
            f"(at most 48), and none of {', '.join(sorted(_RESERVED))}"
        )
    if not (isinstance(spec.settings, type) and issubclass(spec.settings, PlatformSettings)):
        raise PlatformPluginError(
            f"platform {spec.id!r} from {where}: settings must be a PlatformSettings subclass"
        )
    if spec.id in found:
        raise PlatformPluginError(
            f"platform {spec.id!r} from {where} is already provided by {origin[spec.id]}; "
            "uninstall one of them"
        )
    found[spec.id] = spec
    origin[spec.id] = where


def _distribution(entry: EntryPoint) -> str:
    dist = entry.dist
    if dist is None:
        return "an unknown distribution"
    return f"the distribution {dist.name} {dist.version}"


def built_in() -> list[PlatformSpec]:
    """The specs that ship with the enricher, in their listed order."""
    return [import_module(name).SPEC for name in BUILT_IN]


@cache
def specs() -> Mapping[str, PlatformSpec]:
    """Every platform by id, read once per process."""
    return MappingProxyType(collect(built_in(), entry_points(group=ENTRY_POINT_GROUP)))


def spec_for(platform_id: str) -> PlatformSpec:
    known = specs()
    spec = known.get(platform_id)
    if spec is None:
        raise UnknownPlatform(f"unknown platform {platform_id!r}; known: {', '.join(known)}")
    return spec


def _registered(value: str) -> str:
    """Refused as a ``Literal`` of the known ids would refuse it, in the same words."""
    if value not in specs():
        known = [f"'{platform}'" for platform in specs()]
        expected = known[0] if len(known) == 1 else f"{', '.join(known[:-1])} or {known[-1]}"
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": expected}
        )
    return value


def _known_ids(schema: dict[str, Any]) -> None:
    schema["enum"] = list(specs())


PlatformId = Annotated[str, AfterValidator(_registered), Field(json_schema_extra=_known_ids)]
"""A registered platform's id, wherever one is given (the tenants file, an admin filter); its
JSON schema lists the ids of this process's registry."""


def build_adapter(tenant: Tenant, transport: Transport, *, name: str = "") -> PlatformAdapter:
    """The adapter that serves ``tenant`` (called ``name`` in the tenants file), from its
    platform's spec."""
    context = AdapterContext(
        tenant_name=name,
        settings=tenant.settings,
        fields=tenant.fields,
        transport=transport,
        timeout=tenant.delivery.timeout.total_seconds(),
    )
    return spec_for(tenant.platform).create_adapter(context)
