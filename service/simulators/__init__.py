"""What every vendor simulator shares: faults, latency, the request log and the control
routes (``faults``), and serving one on a port (``serve``).

Each platform's simulator lives in its own package (``service/platforms/<platform>/``) and is
named by its spec (``PlatformSpec.simulator``); ``enricher simulate`` and dev mode find them
through the platform registry.
"""
