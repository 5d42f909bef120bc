"""Draw the README's benchmark chart from the JSON ``benchmarks/run.py --json PATH`` writes.

    ./dev chart                 # both steps below (run.py's arguments pass through, e.g. --quick)
    .venv/bin/python benchmarks/run.py --json docs/images/benchmarks.json
    .venv/bin/python benchmarks/chart.py docs/images/benchmarks.json docs/images/benchmarks.png

Grouped bars of p50 (ms, the median over rounds of each round's p50, as in run.py's tables)
for streamlog, langchain-community and the bare-Redis floor: add_message, add_messages(10),
``messages`` with ``LastN(20)`` at every size the run measured, and full reads (cold and warm)
at 10,000 messages (or the largest size measured, for a ``--quick`` run). The y axis turns
logarithmic when the values span more than two decades. Needs matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

CONTENDERS = ("streamlog", "langchain-community", "bare Redis floor")
COLORS = {"streamlog": "#d6336c", "langchain-community": "#4c6ef5", "bare Redis floor": "#adb5bd"}
FULL_READ_SIZE = 10000


def groups(summary: dict[str, dict[str, dict[str, float]]]) -> list[tuple[str, dict[str, float]]]:
    """(label, {contender: p50 ms}) for each group of bars, in chart order."""
    out: list[tuple[str, dict[str, float]]] = []

    def p50(metric: str, name: str) -> float | None:
        cell = summary.get(metric, {}).get(name)
        return cell["p50"] if cell else None

    def group(label: str, bars: dict[str, float | None]) -> None:
        present = {k: v for k, v in bars.items() if v is not None}
        if present.get("streamlog") is not None:
            out.append((label, present))

    group(
        "add_message",
        {
            "streamlog": p50("add_message", "streamlog"),
            "langchain-community": p50("add_message", "community"),
            "bare Redis floor": p50("add_message", "floor"),
        },
    )
    group(
        "add_messages(10)",
        {
            "streamlog": p50("add_messages(10)", "streamlog"),
            "langchain-community": p50("add_messages(10)", "community"),
            "bare Redis floor": p50("add_messages(10)", "floor"),
        },
    )
    sizes = sorted(int(m.split("@", 1)[1]) for m in summary if m.startswith("messages@"))
    for n in sizes:  # community has no window: it reads the whole list (see the full reads)
        group(
            f"LastN(20)\n{n:,} msgs",
            {
                "streamlog": p50(f"messages@{n}", "streamlog LastN(20)"),
                "bare Redis floor": p50(f"messages@{n}", "floor XREVRANGE 20"),
            },
        )
    if sizes:
        n = FULL_READ_SIZE if FULL_READ_SIZE in sizes else max(s for s in sizes if s <= FULL_READ_SIZE)
        metric = f"messages@{n}"
        group(
            f"full read, cold\n{n:,} msgs",
            {
                "streamlog": p50(metric, "streamlog full, cold"),
                "langchain-community": p50(metric, "community"),
                "bare Redis floor": p50(metric, "floor XRANGE"),
            },
        )
        group(
            f"full read, warm\n{n:,} msgs",
            {
                "streamlog": p50(metric, "streamlog full, warm"),
                "langchain-community": p50(metric, "community"),
            },
        )
    return out


def describe(header: str) -> tuple[str, str]:
    """(date, server) from run.py's header line, e.g. ('2026-11-24', 'Redis 7.0.15')."""
    date = re.search(r"(\d{4}-\d{2}-\d{2})", header)
    # "...: redis-7.0.15 (INFO redis_version 7.0.15), ..." or "...: valkey-8.1.1 (INFO redis_version 7.2.4), ..."
    found = re.search(r":\s*(redis|valkey)-([\w.\-]+)\s*\(INFO redis_version", header)
    server = f"{found.group(1).capitalize()} {found.group(2)}" if found else "server ?"
    return (date.group(1) if date else "date ?", server)


def label(ms: float) -> str:
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


FOOTNOTE = (
    "Lower is better. A bar is the median over rounds of each round's p50. Bare Redis floor: one XADD; "
    "ten pipelined XADD; XREVRANGE COUNT 20; XRANGE of the whole session (replies not decoded). "
    "Full read, cold: a reader without cache (snapshot + tail); warm: a reader that read the session "
    "before, timed after one new message. langchain-community has no window: it always reads the whole list."
)


def draw(data: dict[str, Any], out: str) -> None:
    bars = groups(data["summary"])
    if not bars:
        sys.exit("chart: no streamlog figures in the JSON")
    values = [v for _, g in bars for v in g.values()]
    log = max(values) / min(values) > 100
    date, server = describe(data.get("header", ""))

    width = 0.28
    fig, ax = plt.subplots(figsize=(max(10.0, 1.45 * len(bars)), 6.6), dpi=150)
    fig.patch.set_facecolor("white")
    drawn: set[str] = set()
    for x, (_, group) in enumerate(bars):
        names = [c for c in CONTENDERS if c in group]
        for i, name in enumerate(names):
            pos = x + (i - (len(names) - 1) / 2) * width
            rect = ax.bar(
                pos,
                group[name],
                width * 0.9,
                color=COLORS[name],
                edgecolor="#343a40",
                linewidth=0.4,
                label=name if name not in drawn else None,
                zorder=3,
            )
            drawn.add(name)
            ax.bar_label(rect, labels=[label(group[name])], padding=2, fontsize=8.5)

    ax.set_xticks(range(len(bars)), [name for name, _ in bars], fontsize=10)
    ax.set_xlim(-0.6, len(bars) - 0.4)
    ax.tick_params(axis="y", labelsize=10)
    if log:
        ax.set_yscale("log")
        ax.set_ylim(min(values) / 2, max(values) * 5)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_ylabel("p50, ms (log scale)", fontsize=11)
    else:
        ax.set_ylim(0, max(values) * 1.18)
        ax.set_ylabel("p50, ms", fontsize=11)
    ax.grid(axis="y", which="major", color="#dee2e6", linewidth=0.8, zorder=0)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", frameon=False, fontsize=10.5)
    ax.set_title(
        f"streamlog vs langchain-community's RedisChatMessageHistory vs bare Redis: p50 ms, {date}, {server}",
        fontsize=13,
        pad=24,
    )
    header = data.get("header", "")
    detail = header.split(": ", 1)[1] if ": " in header else header
    ax.text(0.5, 1.025, detail, transform=ax.transAxes, ha="center", fontsize=9, color="#495057")
    note = textwrap.fill(FOOTNOTE, width=int(fig.get_figwidth() * 72 / (8.5 * 0.55)))
    fig.text(0.012, 0.012, note, fontsize=8.5, color="#495057", ha="left", va="bottom")
    lines = note.count("\n") + 1
    fig.tight_layout(rect=(0, 0.02 + 0.028 * lines, 1, 1))
    fig.savefig(out, facecolor="white")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("json", nargs="?", default="docs/images/benchmarks.json", help="run.py --json output")
    parser.add_argument(
        "png", nargs="?", default="docs/images/benchmarks.png", help="where to write the chart"
    )
    args = parser.parse_args()
    with open(args.json) as f:
        data = json.load(f)
    draw(data, args.png)
    print(f"chart: wrote {args.png}", file=sys.stderr)


if __name__ == "__main__":
    main()
