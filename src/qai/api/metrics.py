"""Prometheus metrics: requests by route and status, the database pool, slow queries, runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from qai.db import Database

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _DatabaseCollector(Collector):
    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterable[Metric]:
        database = self.database
        pool = database.pool_status()
        gauges = [
            ("qai_db_pool_size", pool["size"], "Connections the pool keeps."),
            ("qai_db_pool_checked_out", pool["checked_out"], "Connections in use."),
            ("qai_db_pool_overflow", pool["overflow"], "Connections above the pool size in use."),
        ]
        if database.reads is not None:
            reads = database.reads.status()
            gauges += [
                ("qai_db_read_pool_open", reads["open"], "Connections of the hot-read pool."),
                ("qai_db_read_pool_in_use", reads["in_use"], "Hot-read connections in use."),
            ]
        gauges.append(
            (
                "qai_db_slow_queries",
                database.stats.slow_queries,
                "Statements slower than QAI_DB_SLOW_QUERY_MS since start.",
            )
        )
        for name, value, help_text in gauges:
            yield GaugeMetricFamily(name, help_text, value=value)


class Metrics:
    def __init__(self, database: Database) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "qai_http_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "qai_http_request_duration_seconds",
            "HTTP request latency by method and route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_DatabaseCollector(database))
        self.runs = Gauge(
            "qai_runs",
            "Agent runs by status (read from the database when /metrics is scraped).",
            ["status"],
            registry=self.registry,
        )
        # The labelled children per (method, route, status): looking them up through
        # ``labels()`` on every request costs more than counting itself.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def set_runs(self, counts: Mapping[str, int]) -> None:
        for status, count in counts.items():
            self.runs.labels(status).set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
