"""Reading across collections (AIP-159) over a real longrund: ListOperations with a `-` wildcard
parent through google-api-core's OperationsClient and a raw stub, paging to the end;
`return_partial_success`; Admin.ListCollections and `longrun collections` / `list --all-collections`
(docs/API.md, "Reading across collections")."""

import json
import os
import subprocess

import grpc
import pytest
from google.api_core import operations_v1
from google.longrunning import operations_pb2

import support
from longrun.v1 import admin_pb2


@pytest.fixture
def setup(fresh_daemon):
    """A fresh daemon with operations in the root, two tenants and a project nested in one, created
    interleaved so that creation order differs from any order by collection or name."""
    channel = grpc.insecure_channel(fresh_daemon.target)
    producers = support.stubs(channel)[0]
    created = []
    for i in range(7):
        for parent in ("tenants/globex", "", "tenants/acme", "tenants/acme/projects/p1"):
            op_id = f"z{(i * 5) % 7}-{i}"
            created.append(support.create(producers, parent=parent, operation_id=op_id).name)
    yield fresh_daemon, channel, created
    channel.close()


def tenants_only(names):
    return [n for n in names if n.startswith("tenants/") and "/projects/" not in n]


def test_wildcard_list_pages_across_two_collections_with_google_client(setup):
    _, channel, created = setup
    client = operations_v1.OperationsClient(channel)
    iterator = client.list_operations(name="tenants/-/operations", filter_="")
    iterator._request.page_size = 3  # the library has no page_size argument; see test_api_core
    pages = []
    for page in iterator.pages:
        pages.append([op.name for op in page])
        assert len(pages) < 100, "list_operations iterator does not terminate"
    listed = [n for page in pages for n in page]
    assert listed == tenants_only(created)  # both tenants, creation order, nothing nested or root
    assert len(pages) >= 5 and all(len(p) <= 3 for p in pages)


def test_every_collection_with_a_raw_stub_and_partial_success(setup):
    _, channel, created = setup
    operations = support.stubs(channel)[3]
    listed, token, unreachable = [], "", []
    while True:
        response = operations.ListOperations(operations_pb2.ListOperationsRequest(
            name="-", page_size=5, page_token=token, return_partial_success=True), timeout=10)
        listed += [op.name for op in response.operations]
        unreachable += list(response.unreachable)
        token = response.next_page_token
        if not token:
            break
        assert len(listed) < 200
    assert listed == created
    assert unreachable == []  # one consistent store: nothing is ever unreachable

    # The filter applies as for one collection, and a token stays bound to its name and filter.
    first = operations.ListOperations(operations_pb2.ListOperationsRequest(
        name="tenants/-", filter='name = "tenants/acme/*"', page_size=2), timeout=10)
    assert [op.name for op in first.operations] == [n for n in created if n.startswith("tenants/acme/operations/")][:2]
    with pytest.raises(grpc.RpcError) as failure:
        operations.ListOperations(operations_pb2.ListOperationsRequest(
            name="-", filter='name = "tenants/acme/*"', page_token=first.next_page_token), timeout=10)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert support.error_info(failure.value).reason == "PAGE_TOKEN_MISMATCH"

    # `-` only stands for an id (or the whole parent).
    with pytest.raises(grpc.RpcError) as failure:
        operations.ListOperations(operations_pb2.ListOperationsRequest(name="-/acme/operations"), timeout=10)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_list_collections_rpc_and_cli(setup):
    daemon, channel, created = setup
    admin = support.stubs(channel)[2]
    everything = ["operations", "tenants/acme/operations", "tenants/acme/projects/p1/operations", "tenants/globex/operations"]
    names, token = [], ""
    while True:
        response = admin.ListCollections(admin_pb2.ListCollectionsRequest(page_size=3, page_token=token), timeout=10)
        names += list(response.collections)
        token = response.next_page_token
        if not token:
            break
    assert names == everything
    response = admin.ListCollections(admin_pb2.ListCollectionsRequest(name="tenants/-"), timeout=10)
    assert list(response.collections) == ["tenants/acme/operations", "tenants/globex/operations"]

    longrun = support.binary("LONGRUN", "longrun")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGRUN")}

    def cli(*args):
        result = subprocess.run([longrun, args[0], "--socket", daemon.socket, *args[1:]],
                                capture_output=True, text=True, timeout=30, env=env)
        assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        return result.stdout

    assert cli("collections").splitlines() == everything
    assert [json.loads(line)["name"] for line in cli("collections", "--json").splitlines()] == everything
    assert cli("collections", "tenants/-").splitlines() == ["tenants/acme/operations", "tenants/globex/operations"]
    listed = [json.loads(line)["name"] for line in cli("list", "--all-collections", "--all", "--json", "--page-size", "4").splitlines()]
    assert listed == created
