"""A watcher that stops reading is ended, not buffered without bound."""

from __future__ import annotations

from sluice.apiserver.store.watch import Event, EventLog


def _event(rv: int) -> Event:
    obj = {"metadata": {"name": f"cm-{rv}", "namespace": "ns", "resourceVersion": str(rv)}}
    return Event("ADDED", ("", "configmaps"), "ns", obj, None, rv)


def test_slow_watcher_is_closed_and_can_resume_from_history() -> None:
    log = EventLog(start_rv=0)
    watcher, _ = log.subscribe(("", "configmaps"), "ns", lambda o: True, since=0)
    watcher.limit = 3
    for rv in range(1, 8):
        log.publish(_event(rv))
    items = []
    while not watcher.queue.empty():
        items.append(watcher.queue.get_nowait())
    assert [i[2] for i in items[:-1] if i] == [1, 2, 3]
    assert items[-1] is None  # the stream ends here; the client watches again
    assert watcher.overflowed
    # Watching again from the last revision delivered replays what was dropped.
    _, replay = log.subscribe(("", "configmaps"), "ns", lambda o: True, since=3)
    assert [e.rv for e in replay] == [4, 5, 6, 7]
