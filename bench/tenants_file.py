"""What reading the tenants file costs as it grows: CPU and peak memory at start-up.

Run ``python -m bench.tenants_file``. For 100, 1,000 and 5,000 NICE tenants it reads the same
file two ways, each in a fresh process so that peak memory is its own: as the service reads it
(libyaml where PyYAML has it; the node tree that locates problems composed only when there is
a problem), and the baseline, the file composed and loaded by PyYAML's pure-Python loader as
well as validated (how the service read it before).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from multiprocessing.connection import Connection

import yaml

from bench._engine_support import SECRETS, tenants_yaml
from service import tenants


def _text(count: int) -> str:
    return tenants_yaml({f"t{i}": ("http://127.0.0.1:9", 10.0) for i in range(count)}, 256)


def _measure(count: int, baseline: bool, conn: Connection) -> None:
    text = _text(count)
    began = time.process_time()
    if baseline:  # the pure-Python loader, and the node tree composed up front
        tenants._FAST_LOADER = yaml.SafeLoader
        yaml.compose(text, Loader=yaml.SafeLoader)
    config = tenants.parse_tenants(text, environ=SECRETS)
    assert len(config.tenants) == count
    cpu = time.process_time() - began
    conn.send((cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def _run(
    context: multiprocessing.context.SpawnContext, count: int, baseline: bool
) -> tuple[float, float]:
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_measure, args=(count, baseline, sender))
    process.start()
    sender.close()
    try:
        result: tuple[float, float] = receiver.recv()
    finally:
        process.join(30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--counts", default="100,1000,5000")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    print(
        f"{'tenants':>8} {'file KiB':>9} {'CPU s':>7} {'baseline':>9} {'ratio':>6}"
        f" {'peak MiB':>9} {'baseline':>9}"
    )
    for count in (int(c) for c in args.counts.split(",")):
        cpu, rss = _run(context, count, baseline=False)
        base_cpu, base_rss = _run(context, count, baseline=True)
        size = len(_text(count)) // 1024
        print(
            f"{count:>8} {size:>9} {cpu:>7.2f} {base_cpu:>9.2f} {cpu / base_cpu:>6.2f}"
            f" {rss:>9.0f} {base_rss:>9.0f}"
        )


if __name__ == "__main__":
    main()
