"""Shared fixtures: the Kafka-protocol broker for every integration test.

Property tests check behaviour, never speed: on a shared 2-core CI machine an example can take
a second to generate or run, so Hypothesis's timing checks (deadline, too_slow) are off; its
correctness checks are untouched.
"""

from hypothesis import HealthCheck, settings

settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

pytest_plugins = ["tests.fixtures.broker"]
