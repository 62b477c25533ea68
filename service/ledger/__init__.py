"""The ledger: per-interaction merged state behind one small interface."""

from service.ledger.base import Ledger
from service.ledger.opening import open_ledger

__all__ = ["Ledger", "open_ledger"]
