"""ConfigMapClient against the stand-in kube-apiserver: every write is conditional on a resourceVersion.

Concurrent editors are simulated with ``api.interleave``: the stand-in runs the edit just before it
handles the client's write, so the write meets a newer object exactly as in a real race.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable, Iterator

import pytest

from kubegate import pki
from kubegate.service.aws_auth_watch import AwsAuthWatcher
from kubegate.service.config_map_client import ConfigMapClient, ConfigMapConflict, ConfigMapError, LiveConfigMap
from test_aws_auth_watch import ADMINS, ROLES, TOKEN, Recorder, StandInApiserver, _ca_data, api, authority  # noqa: F401 (fixtures)

USERS = "- userarn: arn:aws:iam::111122223333:user/alice\n  username: alice\n  groups:\n    - devs\n"


Connect = Callable[..., ConfigMapClient]


@pytest.fixture
def connect(api: StandInApiserver, authority: pki.Authority) -> Iterator[Connect]:
    made: list[ConfigMapClient] = []

    def make(**kwargs: object) -> ConfigMapClient:
        options: dict[str, object] = {"server": api.url, "certificate_authority": _ca_data(authority),
                                      "token": TOKEN, **kwargs}
        client = ConfigMapClient(**options)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def _annotated(api: StandInApiserver, data: dict[str, str]) -> int:
    """An aws-auth as eksctl leaves it: labels, annotations and keys kubegate has no business touching."""
    stored = api.store({"kind": "ConfigMap", "apiVersion": "v1", "data": data, "binaryData": {"blob": "AAEC"},
                        "metadata": {"name": "aws-auth", "namespace": "kube-system", "uid": "4e7e1a4c",
                                     "creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"owner": "eksctl"},
                                     "annotations": {"note": "hand-edited"}}})
    return int(stored["metadata"]["resourceVersion"])


def test_get_absent_then_present(api: StandInApiserver, connect: Connect) -> None:
    client = connect()
    assert client.get() is None
    rv = api.put({"mapRoles": ROLES})
    live = client.get()
    assert live is not None
    assert live.data == {"mapRoles": ROLES} and live.resource_version == str(rv)
    assert live.obj["metadata"]["uid"] == "4e7e1a4c"
    api.put({})
    empty = client.get()
    assert empty is not None and empty.data == {}


def test_replace_keeps_labels_annotations_and_other_keys(api: StandInApiserver, connect: Connect) -> None:
    _annotated(api, {"mapRoles": ROLES, "mapUsers": USERS})
    client = connect()
    live = client.get()
    assert live is not None
    new_rv = client.replace(live, {**live.data, "mapRoles": ROLES + ADMINS})
    assert api.obj is not None and new_rv == api.obj["metadata"]["resourceVersion"] == str(api.rv)
    assert int(new_rv) > int(live.resource_version)
    assert api.obj["data"] == {"mapRoles": ROLES + ADMINS, "mapUsers": USERS}
    assert api.obj["binaryData"] == {"blob": "AAEC"}
    assert api.obj["metadata"]["labels"] == {"owner": "eksctl"}
    assert api.obj["metadata"]["annotations"] == {"note": "hand-edited"}
    assert api.obj["metadata"]["uid"] == "4e7e1a4c"
    assert live.obj["data"] == {"mapRoles": ROLES, "mapUsers": USERS}  # the read is not mutated
    assert api.history[-1][1] == "MODIFIED"


def test_replace_with_a_stale_resource_version_conflicts_and_keeps_the_concurrent_edit(
        api: StandInApiserver, connect: Connect) -> None:
    api.put({"mapRoles": ROLES})
    client = connect()
    live = client.get()
    assert live is not None
    api.interleave.append(lambda: api.put({"mapRoles": ADMINS}))  # somebody's kubectl edit wins the race
    with pytest.raises(ConfigMapConflict) as caught:
        client.replace(live, {"mapRoles": ROLES + ADMINS})
    assert "was modified since it was read at resourceVersion 101" in caught.value.message
    assert "the object has been modified" in caught.value.message
    assert api.obj is not None and api.obj["data"] == {"mapRoles": ADMINS}
    assert api.obj["metadata"]["resourceVersion"] == "102"
    fresh = client.get()  # what a caller does next: read again and reapply
    assert fresh is not None
    assert client.replace(fresh, {"mapRoles": ADMINS + ROLES}) == "103"


def test_replace_after_a_concurrent_delete_conflicts(api: StandInApiserver, connect: Connect) -> None:
    api.put({"mapRoles": ROLES})
    client = connect()
    live = client.get()
    assert live is not None
    api.interleave.append(api.delete)
    with pytest.raises(ConfigMapConflict, match="was deleted since it was read"):
        client.replace(live, {"mapRoles": ADMINS})
    assert api.obj is None


def test_create_and_create_when_it_exists(api: StandInApiserver, connect: Connect) -> None:
    client = connect()
    rv = client.create({"mapRoles": ROLES})
    assert api.obj is not None and rv == api.obj["metadata"]["resourceVersion"] == str(api.rv)
    assert api.obj["metadata"]["name"] == "aws-auth" and api.obj["metadata"]["namespace"] == "kube-system"
    assert api.history[-1][1] == "ADDED"
    with pytest.raises(ConfigMapConflict) as caught:
        client.create({"mapRoles": ADMINS})
    assert 'configmaps "aws-auth" already exists' in caught.value.message
    assert api.obj["data"] == {"mapRoles": ROLES}


def test_create_racing_another_creator_conflicts(api: StandInApiserver, connect: Connect) -> None:
    client = connect()
    assert client.get() is None
    api.interleave.append(lambda: api.put({"mapRoles": ADMINS}))
    with pytest.raises(ConfigMapConflict, match="already exists"):
        client.create({"mapRoles": ROLES})
    assert api.obj is not None and api.obj["data"] == {"mapRoles": ADMINS}


def test_delete_with_the_current_resource_version(api: StandInApiserver, connect: Connect) -> None:
    rv = api.put({"mapRoles": ROLES})
    client = connect()
    client.delete(str(rv))
    assert api.obj is None and api.history[-1][1] == "DELETED"
    assert client.get() is None


def test_delete_with_a_stale_resource_version_conflicts_and_the_object_survives(
        api: StandInApiserver, connect: Connect) -> None:
    rv = api.put({"mapRoles": ROLES})
    client = connect()
    api.interleave.append(lambda: api.put({"mapRoles": ADMINS}))
    with pytest.raises(ConfigMapConflict) as caught:
        client.delete(str(rv))
    assert "Precondition failed: ResourceVersion in precondition: 101, ResourceVersion in object meta: 102" in \
        caught.value.message
    assert api.obj is not None and api.obj["data"] == {"mapRoles": ADMINS}
    with pytest.raises(ConfigMapConflict):  # no interleaving this time: the rv is simply old
        client.delete(str(rv))


def test_delete_of_an_already_deleted_config_map_conflicts(api: StandInApiserver, connect: Connect) -> None:
    rv = api.put({"mapRoles": ROLES})
    api.delete()
    with pytest.raises(ConfigMapConflict, match="was deleted since it was read at resourceVersion 101"):
        connect().delete(str(rv))


def test_wrong_token_is_a_clear_error(api: StandInApiserver, connect: Connect) -> None:
    api.put({"mapRoles": ROLES})
    client = connect(token="not-the-token")
    for call in (client.get, lambda: client.create({}), lambda: client.delete("101"),
                 lambda: client.replace(LiveConfigMap({}, "101", {}), {})):
        with pytest.raises(ConfigMapError) as caught:
            call()
        assert type(caught.value) is ConfigMapError
        assert "refused the token (401 Unauthorized" in caught.value.message
        assert "valid, unexpired token" in caught.value.message
    assert not api.requests and api.obj is not None and api.obj["data"] == {"mapRoles": ROLES}


@pytest.mark.parametrize(("method", "verb"), [("get", "get"), ("replace", "update"), ("create", "create"),
                                              ("delete", "delete")])
def test_forbidden_names_the_verb_to_grant(api: StandInApiserver, connect: Connect, method: str, verb: str) -> None:
    rv = api.put({"mapRoles": ROLES})
    client = connect()
    calls: dict[str, Callable[[], object]] = {
        "get": client.get, "create": lambda: client.create({}), "delete": lambda: client.delete(str(rv)),
        "replace": lambda: client.replace(LiveConfigMap({}, str(rv), {}), {})}
    api.failures = [403]
    with pytest.raises(ConfigMapError) as caught:
        calls[method]()
    message = caught.value.message
    assert type(caught.value) is ConfigMapError
    assert f"the token may not {verb} ConfigMap kube-system/aws-auth (403 Forbidden: " in message
    assert f'cannot {verb} resource "configmaps"' in message  # the apiserver's own words
    assert f"grant its user {verb} on configmaps in kube-system" in message
    assert message.endswith("(a resourceNames rule cannot grant create)" if verb == "create"
                            else "(resourceNames aws-auth)")
    assert api.obj is not None and api.obj["metadata"]["resourceVersion"] == str(rv)


def test_other_statuses_carry_the_status_message(api: StandInApiserver, connect: Connect) -> None:
    api.put({"mapRoles": ROLES})
    api.failures = [503]
    with pytest.raises(ConfigMapError, match="HTTP 503 from the API server at .* to get ConfigMap kube-system/aws-auth: "
                                             "etcdserver: request timed out"):
        connect().get()


def test_a_server_that_is_down_is_a_config_map_error(authority: pki.Authority) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ConfigMapClient(server=f"https://127.0.0.1:{port}", certificate_authority=_ca_data(authority),
                             token=TOKEN, timeout=2.0)
    try:
        for call in (client.get, lambda: client.create({}), lambda: client.delete("1")):
            with pytest.raises(ConfigMapError, match=f"cannot talk to the API server at https://127.0.0.1:{port}: "
                                                     "ConnectError"):
                call()
    finally:
        client.close()


def test_the_certificate_authority_is_verified(api: StandInApiserver) -> None:
    client = ConfigMapClient(server=api.url, certificate_authority=_ca_data(pki.new_authority("someone else's CA")),
                             token=TOKEN)
    try:
        with pytest.raises(ConfigMapError, match="certificate verify failed"):
            client.get()
    finally:
        client.close()
    assert not api.requests


def test_a_garbled_certificate_authority_fails_at_construction(api: StandInApiserver) -> None:
    for garbled in ("not base64!", base64.b64encode(b"not a PEM").decode()):
        with pytest.raises(ConfigMapError, match="is not base64 of a PEM certificate bundle"):
            ConfigMapClient(server=api.url, certificate_authority=garbled, token=TOKEN)


def test_a_running_watcher_sees_the_writes(api: StandInApiserver, authority: pki.Authority,
                                           connect: Connect) -> None:
    api.put({"mapRoles": ROLES})
    seen = Recorder()
    watcher = AwsAuthWatcher(cluster="prod", server=api.url, certificate_authority=_ca_data(authority), token=TOKEN,
                             on_change=seen.on_change, on_error=seen.on_error)
    watcher.start()
    try:
        seen.wait(lambda: len(seen.changes) == 1 and api.open_watches == 1)
        client = connect()
        live = client.get()
        assert live is not None
        rv = client.replace(live, {"mapRoles": ROLES + ADMINS})
        seen.wait(lambda: len(seen.changes) == 2)
        assert seen.changes[1][1] == rv and seen.data() == {"mapRoles": ROLES + ADMINS}
        client.delete(rv)
        seen.wait(lambda: len(seen.changes) == 3)
        assert seen.changes[2][0] is None
        created = client.create({"mapRoles": ADMINS})
        seen.wait(lambda: len(seen.changes) == 4)
        assert seen.changes[3][1] == created and seen.data() == {"mapRoles": ADMINS}
    finally:
        watcher.stop()
    assert not seen.errors
