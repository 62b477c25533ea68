"""Which adapter serves which tenant: the one place that knows every platform module."""

from __future__ import annotations

from collections.abc import Mapping

from service.platforms.base import PlatformAdapter, WriteWindow
from service.platforms.eight_by_eight import EightByEightAdapter
from service.platforms.genesys_gws import GenesysGwsAdapter
from service.platforms.nice_cxone import NiceCxoneAdapter
from service.platforms.sinch_contact_pro import SinchContactProAdapter
from service.tenants import (
    EightByEightSettings,
    GenesysGwsSettings,
    NiceCxoneSettings,
    SinchContactProSettings,
    Tenant,
)
from service.transport import Transport

__all__ = ["WRITE_WINDOWS", "build_adapter"]

WRITE_WINDOWS: Mapping[str, WriteWindow] = {
    adapter.platform: adapter.write_window
    for adapter in (
        NiceCxoneAdapter,
        SinchContactProAdapter,
        EightByEightAdapter,
        GenesysGwsAdapter,
    )
}
"""When each platform takes writes, for telling an operator why a change waits."""


def build_adapter(tenant: Tenant, transport: Transport) -> PlatformAdapter:
    timeout = tenant.delivery.timeout.total_seconds()
    settings = tenant.settings
    if isinstance(settings, NiceCxoneSettings):
        return NiceCxoneAdapter(settings, transport, timeout=timeout)
    if isinstance(settings, SinchContactProSettings):
        return SinchContactProAdapter(settings, tenant.fields, transport, timeout=timeout)
    if isinstance(settings, EightByEightSettings):
        return EightByEightAdapter(settings, tenant.fields, transport, timeout=timeout)
    if isinstance(settings, GenesysGwsSettings):
        return GenesysGwsAdapter(settings, tenant.fields, transport, timeout=timeout)
    raise ValueError(f"no adapter for platform {tenant.platform!r}")
