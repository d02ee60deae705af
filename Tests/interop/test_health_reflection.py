"""Probes and discovery with the clients everyone uses: grpc.health.v1 through PyPI's
grpcio-health-checking stubs, and server reflection through grpcio-reflection's
ProtoReflectionDescriptorDatabase (v1alpha) and a raw call to grpc.reflection.v1.
"""

import signal
import time

import grpc
import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

import support

SERVICES = [
    "google.longrunning.Operations",
    "longrun.v1.Producers",
    "longrun.v1.History",
    "longrun.v1.Admin",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


def check(channel, service):
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


def test_the_whole_server_and_every_service_are_serving(daemon):
    with grpc.insecure_channel(daemon.target) as channel:
        for service in [""] + SERVICES:
            assert check(channel, service) == SERVING, service


def test_an_unknown_service_is_not_found(daemon):
    with grpc.insecure_channel(daemon.target) as channel:
        with pytest.raises(grpc.RpcError) as failure:
            check(channel, "acme.NotServedHere")
        assert failure.value.code() == grpc.StatusCode.NOT_FOUND, failure.value
        assert support.error_info(failure.value).reason == "UNKNOWN_SERVICE"


def test_watch_of_an_unknown_service_streams_service_unknown_and_stays_open(daemon):
    with grpc.insecure_channel(daemon.target) as channel:
        stream = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service="acme.NotServedHere"),
                                                           timeout=1.5)
        assert next(stream).status == SERVICE_UNKNOWN
        # The server neither sends more nor ends the call: only the client's deadline does.
        with pytest.raises(grpc.RpcError) as ended:
            next(stream)
        assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, ended.value


def test_watch_sees_serving_then_not_serving_when_the_daemon_is_told_to_stop(make_daemon):
    daemon = make_daemon().start().wait_ready()
    with grpc.insecure_channel(daemon.target) as channel:
        stream = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert next(stream).status == SERVING
        signalled = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        assert next(stream).status == NOT_SERVING
        # Then the stream ends with UNAVAILABLE (retry), at once: it must not hold the shutdown open
        # until the daemon's 5 s limit cancels it.
        with pytest.raises(grpc.RpcError) as ended:
            next(stream)
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE, ended.value
        assert time.monotonic() - signalled < 3, "the watch ended only when the shutdown limit cut it"
    assert daemon.wait_exit(10) == 0, daemon.output()


def test_reflection_lists_every_service_and_describes_them(daemon):
    from longrun.v1 import admin_pb2  # generated from Protos/ by conftest.py

    with grpc.insecure_channel(daemon.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert sorted(database.get_services()) == sorted(SERVICES)
        pool = DescriptorPool(database)
        operations = pool.FindServiceByName("google.longrunning.Operations")
        assert {m.name for m in operations.methods} == {
            "ListOperations", "GetOperation", "DeleteOperation", "CancelOperation", "WaitOperation"}
        assert operations.FindMethodByName("WaitOperation").output_type.full_name == "google.longrunning.Operation"
        admin = pool.FindServiceByName("longrun.v1.Admin")
        # The same methods as the .proto the Python stubs were generated from.
        assert {m.name for m in admin.methods} == set(admin_pb2.DESCRIPTOR.services_by_name["Admin"].methods_by_name)
        assert {"GetServerInfo", "SetHold", "TakeSnapshot"} <= {m.name for m in admin.methods}
        info = admin.FindMethodByName("GetServerInfo").output_type
        assert info.full_name == "longrun.v1.ServerInfo"
        assert "version" in info.fields_by_name
        # Imports came along: the Operation's Any fields resolve.
        assert pool.FindMessageTypeByName("google.protobuf.Any").full_name == "google.protobuf.Any"
        for service in SERVICES:
            assert pool.FindServiceByName(service).full_name == service


def test_reflection_v1_answers_like_v1alpha(daemon):
    # grpcio-reflection's client speaks v1alpha only; v1 has the same messages under another
    # package, so the v1alpha classes serialize v1 requests and parse v1 answers.
    with grpc.insecure_channel(daemon.target) as channel:
        call = channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                                     request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                     response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="longrun.v1.Admin"),
            reflection_pb2.ServerReflectionRequest(file_by_filename="acme/nothing.proto"),
        ]
        answers = list(call(iter(requests), timeout=10))
        assert len(answers) == 3
        assert sorted(s.name for s in answers[0].list_services_response.service) == sorted(SERVICES)
        files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                 for b in answers[1].file_descriptor_response.file_descriptor_proto]
        assert files[0].name == "longrun/v1/admin.proto"
        assert "Admin" in [s.name for s in files[0].service]
        assert answers[2].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
