#!/usr/bin/env python3
"""Cross-host wake-up latency: a WaitOperation on host B, the completion on host A.

For each sample: CreateOperation on A; GetOperation on B until B serves it (B reads the shared
store); WaitOperation on B (in flight, given --settle seconds to reach B's engine); then
CompleteOperation on A. The latency is from the moment A's CompleteOperation is acknowledged to
the moment B's WaitOperation returns the operation done (negative if B answered first). The time
from sending the CompleteOperation is reported too.

  cross_host_wait.py --a unix:/path/a.sock --b unix:/path/b.sock [--samples 300] [--label L]

Prints one line: samples, p50/p90/p99/max of ack->wake (ms), p50/p99 of send->wake, errors.
Stubs: loadgen.py's (--gen-dir, default $LONGRUN_BENCH_TMP/gen, from gen_longrun_stubs.sh).
"""
import argparse
import asyncio
import json
import os
import sys
import time


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


async def main(a):
    sys.path.insert(0, a.gen_dir)
    sys.path.insert(0, os.path.join(a.gen_dir, "longrun"))
    import grpc
    from google.longrunning import operations_proto_pb2 as lro_pb2
    from google.longrunning import operations_pb2_grpc as lro_grpc
    from google.protobuf import any_pb2, duration_pb2
    from longrun.v1 import producers_pb2, producers_pb2_grpc

    ca, cb = grpc.aio.insecure_channel(a.a), grpc.aio.insecure_channel(a.b)
    prod_a = producers_pb2_grpc.ProducersStub(ca)
    ops_b = lro_grpc.OperationsStub(cb)
    meta = any_pb2.Any(type_url="type.googleapis.com/load.v1.Progress", value=os.urandom(200))
    result = any_pb2.Any(type_url="type.googleapis.com/load.v1.Result", value=os.urandom(200))
    prefix = "w%x-" % (int(time.time() * 1000) % (1 << 40))
    ack_to_wake, send_to_wake, errors = [], [], {}

    def err(kind):
        errors[kind] = errors.get(kind, 0) + 1

    for i in range(a.samples + a.warmup):
        try:
            op = await prod_a.CreateOperation(producers_pb2.CreateOperationRequest(
                operation_id=f"{prefix}{i}", metadata=meta), timeout=10)
            for _ in range(200):   # B reads the shared store: usually at once
                try:
                    await ops_b.GetOperation(lro_pb2.GetOperationRequest(name=op.name), timeout=10)
                    break
                except grpc.aio.AioRpcError as e:
                    if e.code() != grpc.StatusCode.NOT_FOUND:
                        raise
                    await asyncio.sleep(0.005)
            wait = asyncio.ensure_future(ops_b.WaitOperation(lro_pb2.WaitOperationRequest(
                name=op.name, timeout=duration_pb2.Duration(seconds=30)), timeout=40))
            await asyncio.sleep(a.settle)
            if wait.done():
                err("wait_returned_early")
                continue
            t_send = time.perf_counter()
            await prod_a.CompleteOperation(producers_pb2.CompleteOperationRequest(name=op.name, response=result), timeout=10)
            t_ack = time.perf_counter()
            got = await wait
            t_wake = time.perf_counter()
            if not got.done:
                err("wait_not_done")
                continue
            if i >= a.warmup:
                ack_to_wake.append((t_wake - t_ack) * 1e3)
                send_to_wake.append((t_wake - t_send) * 1e3)
        except grpc.aio.AioRpcError as e:
            err(e.code().name)
    await ca.close()
    await cb.close()
    out = {"label": a.label, "samples": len(ack_to_wake),
           "ack_to_wake_p50_ms": round(pct(ack_to_wake, 0.5), 2), "ack_to_wake_p90_ms": round(pct(ack_to_wake, 0.9), 2),
           "ack_to_wake_p99_ms": round(pct(ack_to_wake, 0.99), 2),
           "ack_to_wake_max_ms": round(max(ack_to_wake) if ack_to_wake else float("nan"), 2),
           "send_to_wake_p50_ms": round(pct(send_to_wake, 0.5), 2), "send_to_wake_p99_ms": round(pct(send_to_wake, 0.99), 2),
           "errors": errors}
    print(f"{a.label + ' ' if a.label else ''}samples={out['samples']} ack_to_wake p50_ms={out['ack_to_wake_p50_ms']} "
          f"p90_ms={out['ack_to_wake_p90_ms']} p99_ms={out['ack_to_wake_p99_ms']} max_ms={out['ack_to_wake_max_ms']} "
          f"send_to_wake p50_ms={out['send_to_wake_p50_ms']} p99_ms={out['send_to_wake_p99_ms']} errors={errors or 0}")
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="host A (completes): unix:/path.sock")
    ap.add_argument("--b", required=True, help="host B (waits): unix:/path.sock")
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--settle", type=float, default=0.03, help="seconds between sending the Wait and the Complete")
    ap.add_argument("--gen-dir", default=os.path.join(os.environ.get("LONGRUN_BENCH_TMP", "/tmp/longrun-bench"), "gen"))
    ap.add_argument("--label", default="")
    ap.add_argument("--json", action="store_true")
    asyncio.run(main(ap.parse_args()))
