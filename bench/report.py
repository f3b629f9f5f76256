"""The report: targets judged from one run's figures, and the Markdown table."""

from __future__ import annotations

from typing import Any

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


def _load(results: dict[str, Any], target: str, key: str, c: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = results["load"].get(target, {}).get(key, {}).get(c)
    return found


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 7 with the figure measured and whether it is met (None: not measured)."""
    verdicts: list[dict[str, Any]] = []

    def add(target: str, figure: str, met: bool | None) -> None:
        verdicts.append({"target": target, "measured": figure, "met": met})

    conns = sorted({c for t in results["load"].values() for e in t.values() for c in e}, key=int)
    for key in RATIO_ENDPOINTS:
        for c in conns:
            qai, floor = _load(results, "qai", key, c), _load(results, "floor", key, c)
            if qai is None or floor is None:
                continue
            ratio = qai["rps"] / floor["rps"]
            add(f"{LABELS[key]} c={c}: req/s ≥ 0.7× floor", f"{ratio:.2f}×", ratio >= 0.7)
            p99 = qai["p99_ms"] / floor["p99_ms"]
            add(f"{LABELS[key]} c={c}: p99 ≤ 2× floor", f"{p99:.2f}×", p99 <= 2.0)
    sql = results["sql"].get("qai", {})
    for key, limit in SQL_LIMITS.items():
        if key in sql:
            worst = max(v["per_request"] for v in sql[key].values())
            add(
                f"{LABELS[key]}: SQL statements/request ≤ {limit:g}",
                f"{worst:g}",
                worst <= limit + 0.02,
            )
    if "message_create" in sql:
        kinds = max(sql["message_create"].values(), key=lambda v: v["per_request"])["by_kind"]
        inserts = kinds.get("insert", 0)
        add(
            "message create: one insert + commit",
            ", ".join(f"{k} {v:g}" for k, v in kinds.items()),
            None,  # judged in the text: the run the message starts records itself too
        )
        del inserts
    hot = [(key, v["by_kind"]) for key, per_c in sql.items() for v in per_c.values()]
    extra = sorted(
        {
            f"{key}: {k} {n:g}"
            for key, kinds in hot
            for k, n in kinds.items()
            if k in ("reset", "introspection") and n > 0.005
        }
    )
    if sql:
        add(
            "no reset/introspection statements on the hot path",
            "; ".join(extra) or "none",
            not extra,
        )
    for key, sizes in results["scale"].items():
        if "small" in sizes and "large" in sizes:
            slower = sizes["large"]["p50_ms"] / sizes["small"]["p50_ms"]
            rate = sizes["small"]["rps"] / sizes["large"]["rps"]
            worst = max(slower, rate)
            add(
                f"scale {key}: large within {SCALE_LIMIT}× of small",
                f"{worst:.2f}×",
                worst <= SCALE_LIMIT,
            )
    runs = results.get("runs") or {}
    if runs.get("start_ms"):
        add(
            f"event→run start median ≤ {RUN_START_MS:g} ms",
            f"{runs['start_ms']['median']:.0f} ms",
            runs["start_ms"]["median"] <= RUN_START_MS,
        )
    if runs.get("whole_ms"):
        add(
            f"whole scripted run median ≤ {WHOLE_RUN_MS:g} ms",
            f"{runs['whole_ms']['median']:.0f} ms",
            runs["whole_ms"]["median"] <= WHOLE_RUN_MS,
        )
    peaks = [v["peak_rss_mb"] for e in results["load"].get("qai", {}).values() for v in e.values()]
    if peaks:
        add(
            f"QAI peak RSS under load ≤ {RSS_LIMIT_MB:g} MB",
            f"{max(peaks):.0f} MB",
            max(peaks) <= RSS_LIMIT_MB,
        )
    return verdicts


def _fmt_sql(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "–"
    kinds = ", ".join(f"{k} {v:g}" for k, v in entry["by_kind"].items())
    return f"{entry['per_request']:g} ({kinds})"


def markdown(results: dict[str, Any]) -> str:
    lines = [f"# QAI benchmark {results['started']}", ""]
    m = results["machine"]
    lines += [
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, kernel {m['kernel']}.",
        "",
    ]
    lines += [
        "| endpoint | c | QAI req/s | floor req/s | QAI/floor | QAI p50 ms | QAI p99 ms | floor p50 ms | floor p99 ms | p99 QAI/floor | QAI CPU | floor CPU | QAI RSS MB | floor RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    keys = [k for k in LABELS if any(k in results["load"].get(t, {}) for t in ("qai", "floor"))]
    for key in keys:
        conns = sorted({c for t in results["load"].values() for c in t.get(key, {})}, key=int)
        for c in conns:
            q, f = _load(results, "qai", key, c), _load(results, "floor", key, c)

            def cell(entry: dict[str, Any] | None, field: str, fmt: str) -> str:
                return format(entry[field], fmt) if entry else "–"

            ratio = f"{q['rps'] / f['rps']:.2f}" if q and f else "–"
            p99 = f"{q['p99_ms'] / f['p99_ms']:.2f}" if q and f else "–"
            lines.append(
                f"| {LABELS[key]} | {c} | {cell(q, 'rps', ',.0f')} | {cell(f, 'rps', ',.0f')} | {ratio} | "
                f"{cell(q, 'p50_ms', '.2f')} | {cell(q, 'p99_ms', '.2f')} | {cell(f, 'p50_ms', '.2f')} | "
                f"{cell(f, 'p99_ms', '.2f')} | {p99} | {cell(q, 'cpu_cores', '.2f')} | {cell(f, 'cpu_cores', '.2f')} | "
                f"{cell(q, 'peak_rss_mb', '.0f')} | {cell(f, 'peak_rss_mb', '.0f')} |"
            )
    lines += [
        "",
        "CPU: cores used by the server process during the load (1.00 = one core busy). RSS: highest resident set sampled during the load.",
        "",
    ]
    if results["sql"]:
        lines += [
            "## SQL statements per request (PostgreSQL's statement log, the app database only)",
            "",
        ]
        lines += ["| endpoint | c | QAI | floor |", "|---|---:|---|---|"]
        for key in keys:
            conns = sorted({c for t in results["sql"].values() for c in t.get(key, {})}, key=int)
            for c in conns:
                q = results["sql"].get("qai", {}).get(key, {}).get(c)
                f = results["sql"].get("floor", {}).get(key, {}).get(c)
                lines.append(f"| {LABELS[key]} | {c} | {_fmt_sql(q)} | {_fmt_sql(f)} |")
        lines.append("")
    if results["scale"]:
        lines += [
            "## Scale: first page, 200 → 100,000 projects and 50 → 10,000 messages (QAI, c=16)",
            "",
        ]
        lines += [
            "| request | small req/s | large req/s | small p50 ms | large p50 ms | large/small (worse of the two) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for key, sizes in results["scale"].items():
            s, lg = sizes.get("small"), sizes.get("large")
            if s and lg:
                worst = max(lg["p50_ms"] / s["p50_ms"], s["rps"] / lg["rps"])
                lines.append(
                    f"| {key} | {s['rps']:,.0f} | {lg['rps']:,.0f} | {s['p50_ms']:.2f} | {lg['p50_ms']:.2f} | {worst:.2f}× |"
                )
        lines.append("")
    runs = results.get("runs") or {}
    if runs:
        lines += ["## Agent runs (scripted instant model, `web` sandbox)", ""]
        if runs.get("pending"):
            lines += [f"Pending: {runs['pending']}", ""]
        else:
            lines += [
                "| figure | runs | median ms | p95 ms | max ms |",
                "|---|---:|---:|---:|---:|",
            ]
            for key, label in (
                ("start_ms", "event → run start (idle worker)"),
                ("whole_ms", "whole run: enqueue → RESULT saved"),
            ):
                if runs.get(key):
                    r = runs[key]
                    lines.append(
                        f"| {label} | {r['n']} | {r['median']:.0f} | {r['p95']:.0f} | {r['max']:.0f} |"
                    )
            lines.append("")
    lines += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for verdict in results.get("targets", []):
        met = {True: "yes", False: "**no**", None: "see note"}[verdict["met"]]
        lines.append(f"| {verdict['target']} | {verdict['measured']} | {met} |")
    lines.append("")
    return "\n".join(lines)
