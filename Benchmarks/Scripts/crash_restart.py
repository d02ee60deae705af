"""Restart after a machine crash (issue 16), as far as one machine can stage one.

Used by crash-restart.sh. Two commands:

  reboot DATA_DIR
      Makes the journal in DATA_DIR read as written before another boot: rewrites the boot id
      in both checkpoint slots (docs/FORMAT.md, "Journal") and their CRC-32C. The next open then
      takes the machine-crash path: it writes the checkpoint's meta pages back into data.mdb
      and applies every journal entry after the checkpoint's state. (The pages written after the
      checkpoint are all in data.mdb here, where a real crash keeps any subset of them; the open
      does not read them either way: the restored meta pages lead only to the pinned state.)

  first-get SOCKET TIMEOUT_S READY_FILE
      Loads the gRPC client, creates READY_FILE, polls SOCKET until it accepts a connection,
      then asks for one operation (NOT_FOUND is an answer, waiting for the server to be ready)
      and prints the wall-clock times, in seconds since the epoch, of the socket accepting and of
      the answer; exits 1 after TIMEOUT_S.
"""
import struct
import sys
import time

SLOT_SIZE = 4096
BOOT_ID_OFFSET = 4 + 4 + 8 + 8 + 8 + 8 + 8 + 4   # magic, format, number, session, start, sequence, ring, page size
CRC_OFFSET = BOOT_ID_OFFSET + 16 + 2 * 512        # boot id, the two meta pages' first 512 bytes


def crc32c(data: bytes) -> int:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def reboot(data_dir: str) -> None:
    path = data_dir + "/journal"
    with open(path, "r+b") as f:
        rewritten = 0
        for slot in range(2):
            f.seek(slot * SLOT_SIZE)
            raw = bytearray(f.read(SLOT_SIZE))
            if raw[:4] != b"LRJC":
                continue
            (stored,) = struct.unpack(">I", raw[CRC_OFFSET:CRC_OFFSET + 4])
            if stored != crc32c(bytes(raw[:CRC_OFFSET])):
                continue   # a torn slot stays torn
            raw[BOOT_ID_OFFSET:BOOT_ID_OFFSET + 16] = bytes(b ^ 0xFF for b in raw[BOOT_ID_OFFSET:BOOT_ID_OFFSET + 16])
            raw[CRC_OFFSET:CRC_OFFSET + 4] = struct.pack(">I", crc32c(bytes(raw[:CRC_OFFSET])))
            f.seek(slot * SLOT_SIZE)
            f.write(raw)
            rewritten += 1
    if rewritten == 0:
        raise SystemExit(f"{path}: no whole checkpoint slot")
    print(f"rewrote the boot id in {rewritten} checkpoint slot(s)")


def first_get(path: str, timeout: float, ready_file: str) -> None:
    import socket
    import grpc
    from google.longrunning import operations_proto_pb2 as lro_pb2
    from google.longrunning import operations_pb2_grpc as lro_grpc
    open(ready_file, "w").close()
    deadline = time.monotonic() + timeout
    # The socket first, every millisecond (a refused connect costs microseconds, a gRPC channel
    # milliseconds; polling faster takes a core from the daemon starting on a small machine).
    while True:
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(path)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(1)
            time.sleep(0.001)
        finally:
            probe.close()
    listening = time.time()
    with grpc.insecure_channel("unix:" + path) as channel:
        stub = lro_grpc.OperationsStub(channel)
        try:
            stub.GetOperation(lro_pb2.GetOperationRequest(name="operations/first-get"), timeout=timeout, wait_for_ready=True)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
    print(f"{listening:.6f} {time.time():.6f}")


if __name__ == "__main__":
    if sys.argv[1] == "reboot":
        reboot(sys.argv[2])
    elif sys.argv[1] == "first-get":
        first_get(sys.argv[2], float(sys.argv[3]), sys.argv[4])
    else:
        raise SystemExit(__doc__)
