"""The report: targets judged from one run's figures, the Markdown tables, profile summaries."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from bench import original

LABELS = {
    "project_get": "project get",
    "project_list": "project list",
    "history": "message history",
    "message_create": "message create",
    "project_create": "project create",
}
RATIO_ENDPOINTS = ("project_get", "history")
SQL_LIMITS = {"project_get": 1.0, "history": 2.0}
RSS_LIMIT_MB = 150.0
SCALE_LIMIT = 1.5
RUN_START_MS = 100.0
WHOLE_RUN_MS = 500.0
SLACK = 0.02  # statement counts: a request still in flight when the count closes

Verdict = dict[str, Any]


def _load(results: dict[str, Any], target: str, key: str, c: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = results["load"].get(target, {}).get(key, {}).get(c)
    return found


def _conns(section: dict[str, Any], key: str) -> list[str]:
    return sorted({c for target in section.values() for c in target.get(key, {})}, key=int)


def judge(results: dict[str, Any]) -> list[Verdict]:
    """Each target of issue 7: the figure measured and whether it is met (None: see the text)."""
    verdicts: list[Verdict] = []

    def add(target: str, figure: str, met: bool | None) -> None:
        verdicts.append({"target": target, "measured": figure, "met": met})

    for key in RATIO_ENDPOINTS:
        for c in _conns(results["load"], key):
            qai, floor = _load(results, "qai", key, c), _load(results, "floor", key, c)
            if qai is None or floor is None:
                continue
            ratio = qai["rps"] / floor["rps"]
            add(f"{LABELS[key]} c={c}: req/s >= 0.7x floor", f"{ratio:.2f}x", ratio >= 0.7)
            p99 = qai["p99_ms"] / floor["p99_ms"]
            add(f"{LABELS[key]} c={c}: p99 <= 2x floor", f"{p99:.2f}x", p99 <= 2.0)
    sql = results["sql"].get("qai", {})
    for key, limit in SQL_LIMITS.items():
        if key in sql:
            worst = max(v["per_request"] for v in sql[key].values())
            met = worst <= limit + SLACK
            add(f"{LABELS[key]}: SQL statements/request <= {limit:g}", f"{worst:g}", met)
    if "message_create" in sql:
        kinds = max(sql["message_create"].values(), key=lambda v: v["per_request"])["by_kind"]
        figure = ", ".join(f"{k} {v:g}" for k, v in kinds.items())
        add("message create: one insert + commit (see the note)", figure, None)
    odd = sorted(
        {
            f"{key}: {kind} {n:g}"
            for key, per_c in sql.items()
            for entry in per_c.values()
            for kind, n in entry["by_kind"].items()
            if kind in ("reset", "introspection") and n > SLACK
        }
    )
    if sql:
        add("no reset/introspection statements on the hot path", "; ".join(odd) or "none", not odd)
    for key, sizes in results["scale"].items():
        if "small" in sizes and "large" in sizes:
            worst = _scale_ratio(sizes["small"], sizes["large"])
            met = worst <= SCALE_LIMIT
            add(f"scale {key}: large within {SCALE_LIMIT}x of small", f"{worst:.2f}x", met)
    runs = results.get("runs") or {}
    if runs.get("start_ms"):
        median = runs["start_ms"]["median"]
        met = median <= RUN_START_MS
        add(f"event->run start median <= {RUN_START_MS:g} ms", f"{median:.0f} ms", met)
    if runs.get("whole_ms"):
        median = runs["whole_ms"]["median"]
        met = median <= WHOLE_RUN_MS
        add(f"whole scripted run median <= {WHOLE_RUN_MS:g} ms", f"{median:.0f} ms", met)
    original_labels = original.LABELS
    measured = results.get("original", {}).get("load", {})
    for mode, columns in measured.items():
        theirs = columns.get("original", {})
        for key, per_c in columns.get("qai", {}).items():
            for c, ours in per_c.items():
                other = theirs.get(key, {}).get(c)
                if other is None or not other["rps"]:
                    continue
                name = f"{original_labels.get(key, key)} ({mode}) c={c}"
                ratio = ours["rps"] / other["rps"]
                add(f"{name}: req/s >= 2x the original's", f"{ratio:.2f}x", ratio >= 2.0)
                if key in ("message_create", "project_create"):
                    p99 = ours["p99_ms"] / other["p99_ms"]
                    add(f"{name}: p99 <= the original's", f"{p99:.2f}x", p99 <= 1.0)
    peaks = [v["peak_rss_mb"] for e in results["load"].get("qai", {}).values() for v in e.values()]
    if peaks:
        peak = max(peaks)
        met = peak <= RSS_LIMIT_MB
        add(f"QAI peak RSS under load <= {RSS_LIMIT_MB:g} MB", f"{peak:.0f} MB", met)
    return verdicts


def _scale_ratio(small: dict[str, Any], large: dict[str, Any]) -> float:
    """How much worse the large case is: the worse of its p50 and its throughput."""
    return float(max(large["p50_ms"] / small["p50_ms"], small["rps"] / large["rps"]))


def _cell(entry: dict[str, Any] | None, field: str, fmt: str) -> str:
    return format(entry[field], fmt) if entry else "-"


def _sql_cell(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "-"
    kinds = ", ".join(f"{k} {v:g}" for k, v in entry["by_kind"].items())
    return f"{entry['per_request']:g} ({kinds})"


def _load_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| endpoint | c | QAI req/s | floor req/s | QAI/floor | QAI p50 | QAI p99 | floor p50 "
        "| floor p99 | p99 QAI/floor | QAI CPU | floor CPU | QAI CPU/req | floor CPU/req "
        "| QAI RSS | floor RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in LABELS:
        for c in _conns(results["load"], key):
            q, f = _load(results, "qai", key, c), _load(results, "floor", key, c)
            ratio = f"{q['rps'] / f['rps']:.2f}" if q and f else "-"
            p99 = f"{q['p99_ms'] / f['p99_ms']:.2f}" if q and f else "-"
            cells = [
                LABELS[key],
                c,
                _cell(q, "rps", ",.0f"),
                _cell(f, "rps", ",.0f"),
                ratio,
                _cell(q, "p50_ms", ".2f"),
                _cell(q, "p99_ms", ".2f"),
                _cell(f, "p50_ms", ".2f"),
                _cell(f, "p99_ms", ".2f"),
                p99,
                _cell(q, "cpu_cores", ".2f"),
                _cell(f, "cpu_cores", ".2f"),
                _cell(q, "cpu_ms_per_request", ".3f"),
                _cell(f, "cpu_ms_per_request", ".3f"),
                _cell(q, "peak_rss_mb", ".0f"),
                _cell(f, "peak_rss_mb", ".0f"),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Latencies in ms. CPU: cores used by the server process during the load (1.00 = one "
        "core); CPU/req: its CPU milliseconds per request. RSS: the highest resident set (MB) "
        "sampled during the load.",
        "",
    ]
    return lines


def markdown(results: dict[str, Any], directory: Path | None = None) -> str:
    m = results["machine"]
    lines = [
        f"# QAI benchmark {results['started']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, kernel {m['kernel']}; "
        f"load average at start {m.get('loadavg', '?')}.",
        "",
    ]
    if results["load"]:
        lines += _load_table(results)
    if results["sql"]:
        lines += [
            "## SQL statements per request (PostgreSQL's statement log, the app database only)",
            "",
            "| endpoint | c | QAI | floor |",
            "|---|---:|---|---|",
        ]
        for key in LABELS:
            for c in _conns(results["sql"], key):
                q = results["sql"].get("qai", {}).get(key, {}).get(c)
                f = results["sql"].get("floor", {}).get(key, {}).get(c)
                lines.append(f"| {LABELS[key]} | {c} | {_sql_cell(q)} | {_sql_cell(f)} |")
        lines.append("")
    if results["scale"]:
        lines += [
            "## Scale: first page, 200 -> 100,000 projects and 50 -> 10,000 messages (QAI, c=16)",
            "",
            "| request | small req/s | large req/s | small p50 ms | large p50 ms | large/small |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for key, sizes in results["scale"].items():
            s, lg = sizes.get("small"), sizes.get("large")
            if s and lg:
                lines.append(
                    f"| {key} | {s['rps']:,.0f} | {lg['rps']:,.0f} | {s['p50_ms']:.2f} "
                    f"| {lg['p50_ms']:.2f} | {_scale_ratio(s, lg):.2f}x |"
                )
        lines.append("")
    if results.get("original"):
        lines += original.markdown(results["original"])
    runs = results.get("runs") or {}
    if runs:
        lines += ["## Agent runs (scripted instant model, `web` sandbox)", ""]
        if runs.get("pending"):
            lines += [f"Pending: {runs['pending']}", ""]
        lines += ["| figure | runs | median ms | p95 ms | max ms |", "|---|---:|---:|---:|---:|"]
        for key, label in (
            ("start_ms", "event -> run start (idle worker)"),
            ("whole_ms", "whole run: enqueue -> RESULT saved"),
        ):
            if runs.get(key):
                r = runs[key]
                lines.append(
                    f"| {label} | {r['n']} | {r['median']:.0f} | {r['p95']:.0f} | {r['max']:.0f} |"
                )
        lines.append("")
    if directory is not None:
        lines += profile_summaries(directory)
    lines += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for verdict in results.get("targets", []):
        met = {True: "yes", False: "**no**", None: "see note"}[verdict["met"]]
        lines.append(f"| {verdict['target']} | {verdict['measured']} | {met} |")
    lines.append("")
    return "\n".join(lines)


def profile_summaries(directory: Path) -> list[str]:
    """Where QAI's request thread spends its samples, by package (py-spy raw profiles)."""
    lines: list[str] = []
    for path in sorted(directory.glob("profile-*.txt")):
        shares = _by_package(path)
        if not shares:
            continue
        if not lines:
            lines += ["## Profiles (py-spy, QAI's event-loop thread, own time by package)", ""]
        top = ", ".join(f"{name} {share:.0%}" for name, share in shares[:8])
        lines.append(f"- {path.stem.removeprefix('profile-')}: {top}")
    return [*lines, ""] if lines else []


def _by_package(path: Path) -> list[tuple[str, float]]:
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if "Server.run" not in stack or not n.isdigit():
            continue
        leaf = stack.split(";")[-1]
        found = re.search(r"\(([^/:()]+)/", leaf) or re.search(r"\(([^/:()]+?)[.:]", leaf)
        counts[found.group(1) if found else leaf] += int(n)
    total = sum(counts.values())
    return [(name, n / total) for name, n in counts.most_common()] if total else []
