"""Prometheus metrics of the controllers, in the text exposition format.

Flux users scrape ``/metrics`` and build dashboards on a few series; Sluice
exports the same ones and a couple of its own:

* ``gotk_reconcile_condition{kind,name,namespace,type,status}``: 1 for the
  object's current Ready status (``True``/``False``/``Unknown``), 0 for the
  others, and ``Deleted`` = 1 once the object is gone (Flux's gauge);
* ``gotk_reconcile_duration_seconds{kind,name,namespace}``: histogram of
  reconcile durations per object (Flux's);
* ``gotk_suspend_status{kind,name,namespace}``: 1 while suspended;
* ``sluice_reconcile_total{kind,result}`` and
  ``sluice_reconcile_duration_seconds{kind,result}``: counts and durations
  per kind and result (``success``, ``error``, ``requeue``, ``suspended``);
* ``sluice_workqueue_depth{kind}``: keys waiting for a worker.

The registry is tiny and dependency-free: counters, gauges and histograms
keyed by label values, rendered on demand. Everything runs on the event loop
thread, so no locking is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

__all__ = [
    "DEFAULT_BUCKETS",
    "ControllerMetrics",
    "Counter",
    "Gauge",
    "Histogram",
    "Registry",
]

DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                                      10.0, 30.0, 60.0, 120.0, 300.0)

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class _Metric:
    kind = ""

    def __init__(self, name: str, help_: str, labels: Sequence[str]) -> None:
        self.name = name
        self.help = help_
        self.label_names = tuple(labels)

    def _key(self, values: Sequence[str]) -> Labels:
        if len(values) != len(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}")
        return tuple(str(v) for v in values)

    def samples(self) -> Iterable[str]:
        raise NotImplementedError

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        lines.extend(self.samples())
        return "\n".join(lines) + "\n"


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_, labels)
        self._values: dict[Labels, float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterable[str]:
        for key, value in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.label_names, key)} {_number(value)}"


class Gauge(_Metric):
    kind = "gauge"

    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_, labels)
        self._values: dict[Labels, float] = {}
        self._callbacks: list[Callable[[], Iterable[tuple[Labels, float]]]] = []

    def set(self, *labels: str, value: float) -> None:
        self._values[self._key(labels)] = value

    def remove(self, *labels: str) -> None:
        self._values.pop(self._key(labels), None)

    def value(self, *labels: str) -> float | None:
        return self._values.get(self._key(labels))

    def collect_with(self, fn: Callable[[], Iterable[tuple[Labels, float]]]) -> None:
        """Also report the samples ``fn`` returns at scrape time (queue depths)."""
        self._callbacks.append(fn)

    def samples(self) -> Iterable[str]:
        values = dict(self._values)
        for fn in self._callbacks:
            for key, value in fn():
                values[self._key(key)] = value
        for key, value in sorted(values.items()):
            yield f"{self.name}{_labels(self.label_names, key)} {_number(value)}"


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help_: str, labels: Sequence[str] = (),
                 buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        super().__init__(name, help_, labels)
        self.buckets = tuple(sorted(buckets))
        self._counts: dict[Labels, list[int]] = {}
        self._sums: dict[Labels, float] = {}

    def observe(self, *labels: str, value: float) -> None:
        key = self._key(labels)
        counts = self._counts.setdefault(key, [0] * (len(self.buckets) + 1))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
        counts[-1] += 1
        self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, *labels: str) -> int:
        counts = self._counts.get(self._key(labels))
        return counts[-1] if counts else 0

    def remove(self, *labels: str) -> None:
        key = self._key(labels)
        self._counts.pop(key, None)
        self._sums.pop(key, None)

    def samples(self) -> Iterable[str]:
        for key in sorted(self._counts):
            counts = self._counts[key]
            for bound, n in zip(self.buckets, counts, strict=False):
                le = f'le="{_number(bound)}"'
                yield f"{self.name}_bucket{_labels(self.label_names, key, le)} {n}"
            inf = _labels(self.label_names, key, 'le="+Inf"')
            yield f"{self.name}_bucket{inf} {counts[-1]}"
            yield f"{self.name}_sum{_labels(self.label_names, key)} {_number(self._sums[key])}"
            yield f"{self.name}_count{_labels(self.label_names, key)} {counts[-1]}"


M = TypeVar("M", bound=_Metric)


class Registry:
    """An ordered set of metrics rendered together."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def register(self, metric: M) -> M:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} already registered")
        self._metrics[metric.name] = metric
        return metric

    def render(self) -> str:
        return "".join(m.render() for m in self._metrics.values())


_STATUSES = ("True", "False", "Unknown", "Deleted")


class ControllerMetrics:
    """The metrics every controller records, on one registry."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry()
        r = self.registry
        self.reconcile_total = r.register(Counter(
            "sluice_reconcile_total", "Reconciliations per kind and result.", ("kind", "result")))
        self.reconcile_duration = r.register(Histogram(
            "sluice_reconcile_duration_seconds", "Reconciliation durations per kind and result.",
            ("kind", "result")))
        self.object_duration = r.register(Histogram(
            "gotk_reconcile_duration_seconds", "The duration in seconds of a GitOps reconciliation.",
            ("kind", "name", "namespace")))
        self.condition = r.register(Gauge(
            "gotk_reconcile_condition", "The current condition status of a GitOps Toolkit "
            "resource reconciliation.", ("kind", "name", "namespace", "type", "status")))
        self.suspend = r.register(Gauge(
            "gotk_suspend_status", "The current suspend status of a GitOps Toolkit resource.",
            ("kind", "name", "namespace")))
        self.queue_depth = r.register(Gauge(
            "sluice_workqueue_depth", "Keys waiting for a worker, per kind.", ("kind",)))

    def record_reconcile(self, kind: str, name: str, namespace: str, result: str,
                         seconds: float) -> None:
        self.reconcile_total.inc(kind, result)
        self.reconcile_duration.observe(kind, result, value=seconds)
        self.object_duration.observe(kind, name, namespace, value=seconds)

    def record_condition(self, kind: str, name: str, namespace: str, type_: str,
                         status: str | None) -> None:
        """Set the gauge for the object's current ``type_`` status (None = deleted)."""
        current = "Deleted" if status is None else status
        for s in _STATUSES:
            self.condition.set(kind, name, namespace, type_, s, value=1.0 if s == current else 0.0)

    def record_suspend(self, kind: str, name: str, namespace: str, suspended: bool) -> None:
        self.suspend.set(kind, name, namespace, value=1.0 if suspended else 0.0)

    def render(self) -> str:
        return self.registry.render()
