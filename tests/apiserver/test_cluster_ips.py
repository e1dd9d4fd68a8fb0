"""Service ClusterIPs: unique among stored Services, across deletes and restarts.

The registry keeps an index of the addresses in use instead of scanning every
Service on each create; these tests pin what the scan guaranteed.
"""

from __future__ import annotations

from pathlib import Path

from sluice.apiserver.rest.registry import Cluster, DeleteOptions, WriteOptions
from sluice.apiserver.server import _builtin_schema
from sluice.apiserver.store.storage import Storage


def _cluster(storage: Storage) -> Cluster:
    c = Cluster(storage)
    c.builtin_schema = _builtin_schema
    return c


def _service(c: Cluster, name: str, ip: str = "") -> str:
    spec: dict[str, object] = {"ports": [{"port": 80}]}
    if ip:
        spec["clusterIP"] = ip
    created = c.create(c.resource("", "v1", "services"), "default",
                       {"metadata": {"name": name}, "spec": spec}, WriteOptions())
    return str(created["spec"]["clusterIP"])


def test_allocation_skips_addresses_taken_explicitly_and_after_a_restart(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "db.sqlite")
    c = _cluster(storage)
    c.create(c.resource("", "v1", "namespaces"), "", {"metadata": {"name": "default"}},
             WriteOptions())
    first = _service(c, "a")
    # The next address in order, claimed by hand: the allocator must step over it.
    following = first.rsplit(".", 1)[0] + "." + str(int(first.rsplit(".", 1)[1]) + 1)
    assert _service(c, "pinned", following) == following
    third = _service(c, "b")
    assert third not in (first, following)
    c.delete(c.resource("", "v1", "services"), "default", "b", DeleteOptions())
    storage.close()

    # A restarted API server starts counting from the beginning again, over the same data.
    storage = Storage(tmp_path / "db.sqlite")
    c = _cluster(storage)
    ips = {_service(c, f"new-{i}") for i in range(4)}
    assert not ips & {first, following}
    assert len(ips) == 4
    storage.close()
