"""Which adapter serves which tenant: the one place that knows every platform module."""

from __future__ import annotations

from service.platforms.base import PlatformAdapter
from service.platforms.nice_cxone import NiceCxoneAdapter
from service.tenants import Tenant
from service.transport import Transport

__all__ = ["build_adapter"]


def build_adapter(tenant: Tenant, transport: Transport) -> PlatformAdapter:
    timeout = tenant.delivery.timeout.total_seconds()
    if tenant.platform == "nice-cxone" and tenant.nice_cxone is not None:
        return NiceCxoneAdapter(tenant.nice_cxone, transport, timeout=timeout)
    raise ValueError(f"no adapter for platform {tenant.platform!r}")
