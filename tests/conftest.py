"""Shared fixtures: the Kafka-protocol broker for every integration test."""

pytest_plugins = ["tests.fixtures.broker"]
