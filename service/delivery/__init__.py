"""Delivery: how a pending change reaches its platform (retries, backoff, dead letters)."""
