# Connection churn against a running longrund: per round, 1,500 connections of one GetOperation
# each (half NOT_FOUND), 1,000 waits ended by a 20 ms client deadline, 1,000 waits on one channel
# that is then closed, and 300 sockets that send half a preface, garbage, or a preface and a
# SETTINGS frame before closing. Prints the daemon's open files, anonymous memory and threads after
# each round: a round that leaks shows as growth from the second round on.
# usage: source compare/lib.sh && ensure_client; $PY Benchmarks/Scripts/churn.py SOCKET PID [ROUNDS]
# (the Python client and stubs of compare/lib.sh; LONGRUN_BENCH_TMP as there)
import os, socket, sys, time

import grpc

sys.path.insert(0, os.path.join(os.environ.get("LONGRUN_BENCH_TMP", "/tmp/longrun-bench"), "gen", "longrun"))
from google.longrunning import operations_pb2_grpc as ops_grpc, operations_proto_pb2 as ops  # noqa: E402
from google.protobuf import duration_pb2  # noqa: E402
from longrun.v1 import producers_pb2 as prod, producers_pb2_grpc as prod_grpc  # noqa: E402

path, pid = sys.argv[1], int(sys.argv[2])
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 4
target = "unix:" + path


def status():
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    anon = next(line for line in open(f"/proc/{pid}/status") if line.startswith("RssAnon")).split()[1]
    threads = len(os.listdir(f"/proc/{pid}/task"))
    return f"fds={fds} anon_kib={anon} threads={threads}"


def wait_request(name):
    return ops.WaitOperationRequest(name=name, timeout=duration_pb2.Duration(seconds=30))


print("start", status(), flush=True)
channel = grpc.insecure_channel(target)
operations = ops_grpc.OperationsStub(channel)
name = prod_grpc.ProducersStub(channel).CreateOperation(prod.CreateOperationRequest(operation_id=f"churn-{os.getpid()}")).name
for round_ in range(1, rounds + 1):
    started = time.time()
    for i in range(1500):
        short = grpc.insecure_channel(target)
        try:
            ops_grpc.OperationsStub(short).GetOperation(ops.GetOperationRequest(name=name if i % 2 else "operations/nope"), timeout=5)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e
        short.close()
    for _ in range(1000):
        try:
            operations.WaitOperation(wait_request(name), timeout=0.02)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e
    abandoned = grpc.insecure_channel(target)
    # Held until the channel closes under them (a future collected earlier would cancel its call).
    futures = [ops_grpc.OperationsStub(abandoned).WaitOperation.future(wait_request(name)) for _ in range(1000)]
    time.sleep(0.5)
    abandoned.close()
    for i in range(300):
        peer = socket.socket(socket.AF_UNIX)
        peer.connect(path)
        if i % 3 == 0:
            peer.sendall(b"PRI * HTTP/2.0\r\n")
        elif i % 3 == 1:
            peer.sendall(os.urandom(200))
        else:
            peer.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        peer.close()
    time.sleep(1.0)
    print(f"round {round_} ({time.time() - started:.1f} s)", status(), flush=True)
