"""Authenticated sockets (CurveZMQ checked against authorized keys), binding rules, and ids that try to escape."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest
import zmq
import zmq.auth

from conftest import REPO, wait_for
from nectar.client import Client
from nectar.errors import ServiceError, ServiceUnavailable
from nectar.testing import ServiceProcess
from nom import InsecureBinding
from nom.net import CurveKeys, check_binding, decode_batch, init_keys, is_loopback_endpoint


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    base = tmp_path_factory.mktemp("curve")
    keys_dir = init_keys(base / "keys")
    collector = ServiceProcess("collector", base / "root", "--keys", str(keys_dir)).start()
    collector.client = Client(collector.endpoint, timeout=10, keys=CurveKeys.load(keys_dir))
    yield collector, CurveKeys.load(keys_dir), base
    collector.kill()


def test_secret_keys_are_private(secured) -> None:
    import os

    _, keys, _ = secured
    for name in ("server.key_secret", "client.key_secret"):
        assert os.stat(keys.folder / name).st_mode & 0o077 == 0, f"{name} is readable by others"


def test_client_with_the_authorized_key_is_served(secured) -> None:
    collector, _, _ = secured
    assert collector.call("ping")["pong"] is True


def test_client_without_a_key_gets_nothing(secured) -> None:
    collector, _, _ = secured
    with pytest.raises(ServiceUnavailable):
        Client(collector.endpoint, timeout=2).call("ping")


def test_client_with_a_wrong_key_gets_nothing(secured, tmp_path) -> None:
    collector, keys, _ = secured
    public, secret = zmq.auth.create_certificates(str(tmp_path), "intruder")
    intruder_public, intruder_secret = zmq.auth.load_certificate(secret)
    stranger = CurveKeys(tmp_path, keys.server_public, b"", intruder_public, intruder_secret)
    with pytest.raises(ServiceUnavailable):  # CURVE alone would accept it: the authenticator does not
        Client(collector.endpoint, timeout=2, keys=stranger).call("ping")


def test_published_objects_reach_only_authorized_subscribers(secured) -> None:
    collector, keys, _ = secured
    reply = collector.call("newCollectorJob", jobName="secret", searchTerms="secret", collectorObjectsPerFile=10,
                           delayInMsBetweenObjects=0, source={"kind": "synthetic", "rate": 200})
    port = reply["data"]["dispatchPort"]
    ctx = zmq.Context.instance()
    trusted, plain = ctx.socket(zmq.SUB), ctx.socket(zmq.SUB)
    keys.connect_as_client(trusted)
    for sock in (trusted, plain):
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(f"tcp://127.0.0.1:{port}")
    push = ctx.socket(zmq.PUSH)  # an unauthenticated peer trying to store something
    push.setsockopt(zmq.LINGER, 0)
    push.connect(f"tcp://127.0.0.1:{reply['data']['collectorPort']}")
    try:
        push.send(orjson.dumps({"job": reply["data"]["jobId"] + ".evil",
                                "objects": [{"id": 1, "type": "data.evil", "data": 1}]}), zmq.NOBLOCK)
        assert trusted.poll(5000), "the authorized subscriber got nothing"
        _, header, objects = decode_batch(trusted.recv_multipart())
        assert objects and header["count"] == len(objects)
        assert not plain.poll(1500), "a subscriber without a key got data"
    finally:
        for sock in (trusted, plain, push):
            sock.close()
    jobs = [j["jobId"] for j in collector.call("listJobs")["jobs"]]
    assert reply["data"]["jobId"] + ".evil" not in jobs  # nothing got in
    collector.call("stopCollectorJob", jobId=reply["data"]["jobId"])


def test_binding_beyond_loopback_needs_keys_or_insecure(tmp_path) -> None:
    assert is_loopback_endpoint("tcp://127.0.0.1:5555") and is_loopback_endpoint("tcp://[::1]:1")
    assert is_loopback_endpoint("tcp://localhost:9") and is_loopback_endpoint("ipc:///tmp/x")
    assert not is_loopback_endpoint("tcp://0.0.0.0:5555") and not is_loopback_endpoint("tcp://*:5555")
    with pytest.raises(InsecureBinding, match="nectar keys init"):
        check_binding(["tcp://0.0.0.0:5555"], None, insecure=False)
    check_binding(["tcp://0.0.0.0:5555"], None, insecure=True)
    check_binding(["tcp://127.0.0.1:5555"], None, insecure=False)
    for module in ("collector", "dispatch"):  # the services refuse before binding anything
        done = subprocess.run([sys.executable, "-m", module, "--nom-root", str(tmp_path / "r"), "--control",
                               "tcp://0.0.0.0:0"], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "refusing to start" in done.stderr and "--insecure" in done.stderr


@pytest.mark.parametrize("job", ["..", "../../etc", "/etc/passwd", "a/../../b", "x\u0000y", "j" * 200, "."])
def test_job_ids_that_try_to_escape_are_refused_and_nothing_appears_outside(secured, job) -> None:
    collector, _, base = secured
    before = sorted(p.name for p in base.iterdir())
    for action, extra in (("jobStatus", {}), ("stopCollectorJob", {}), ("setJobMaxSize", {"maxSize": 5})):
        with pytest.raises(ServiceError, match="jobId must be") as err:
            collector.call(action, jobId=job, **extra)
        assert err.value.field == "jobId"
    assert sorted(p.name for p in base.iterdir()) == before
    assert not (base.parent / "etc").exists()


def test_dispatch_with_keys_attaches_to_a_keyed_collector(secured) -> None:
    collector, keys, base = secured
    dispatch = ServiceProcess("dispatch", base / "root", "--workers", "1", "--keys", str(keys.folder)).start()
    dispatch.client = Client(dispatch.endpoint, timeout=10, keys=keys)
    try:
        reply = collector.call("newCollectorJob", jobName="keyed", searchTerms="keyed", collectorObjectsPerFile=10,
                               delayInMsBetweenObjects=0, source={"kind": "synthetic", "rate": 300, "count": 200})
        dispatch.call("attach", job=reply)
        wait_for(lambda: any(j["objects"] > 0 for j in dispatch.call("showCache")["jobs"]), timeout=20,
                 what="objects over the CURVE-protected publish socket")
        with pytest.raises(ServiceUnavailable):
            Client(dispatch.endpoint, timeout=2).call("ping")
    finally:
        dispatch.kill()


def test_a_second_service_on_a_used_ipc_path_refuses_to_start(tmp_path) -> None:
    endpoint = f"ipc://{tmp_path}/collector.sock"
    first = ServiceProcess("collector", tmp_path / "root").start(endpoint=endpoint)
    try:
        with pytest.raises(RuntimeError, match="cannot bind"):
            ServiceProcess("collector", tmp_path / "root2").start(endpoint=endpoint, timeout=15)
        assert first.call("ping")["pong"] is True  # the first one still has its socket
    finally:
        first.kill()
