#!/usr/bin/env python3
"""The closing table of `make bench` (scripts/run-bench.sh).

    table.py RESULTS PEER...

RESULTS holds one tab-separated line per system and round: round, system
(dtq, bullmq, river), enqueue jobs/s, submit -> complete jobs/s, p50 ms,
p99 ms, the load average before it ran; "-" where it failed. Prints every
figure with the ratio of dtq to each peer and to the faster peer of the
same round (the peer with the higher figure), then the range of each over
the rounds. Ratios are taken within a round only: on a shared machine the
load moves between rounds, and a ratio of figures measured minutes apart
would carry it.
"""
import sys

NAMES = {"dtq": "dtq", "bullmq": "BullMQ", "river": "River"}
FIGURES = [("enqueue", "enqueue (jobs/s)"), ("process", "submit->complete (jobs/s)")]


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def main():
    path, peers = sys.argv[1], sys.argv[2:]
    rows = {}
    loads = {}
    with open(path, encoding="utf-8") as results:
        for line in results:
            round_, system, enqueue, process, p50, p99, load = line.rstrip("\n").split("\t")
            rows[(int(round_), system)] = {
                "enqueue": number(enqueue), "process": number(process), "p50": p50, "p99": p99}
            loads.setdefault(int(round_), []).append(load.split()[0])
    rounds = sorted({r for r, _ in rows})
    systems = ["dtq"] + peers
    ratio_columns = [f"dtq/{NAMES[p]}" for p in peers]
    if len(peers) > 1:
        ratio_columns.append("dtq/faster peer")

    header = ["round", "figure"] + [NAMES[s] for s in systems] + ratio_columns
    table = [header]
    ranges = {}  # (figure, column) -> values over the rounds

    def keep(figure, column, value):
        if value is not None:
            ranges.setdefault((figure, column), []).append(value)

    for r in rounds:
        for key, label in FIGURES:
            values = {s: rows.get((r, s), {}).get(key) for s in systems}
            cells = [str(r), label]
            for s in systems:
                cells.append("-" if values[s] is None else f"{values[s]:,.0f}")
                keep(key, NAMES[s], values[s])
            dtq = values["dtq"]
            for p in peers:
                ratio = dtq / values[p] if dtq and values[p] else None
                cells.append("-" if ratio is None else f"{ratio:.2f}x")
                keep(key, f"dtq/{NAMES[p]}", ratio)
            if len(peers) > 1:
                measured = [values[p] for p in peers if values[p]]
                # Only when every peer ran: the faster of fewer is not the faster peer.
                ratio = dtq / max(measured) if dtq and len(measured) == len(peers) else None
                cells.append("-" if ratio is None else f"{ratio:.2f}x")
                keep(key, "dtq/faster peer", ratio)
            table.append(cells)
        latency = [str(r), "latency p50/p99 (ms)"]
        for s in systems:
            row = rows.get((r, s), {})
            latency.append(f"{row.get('p50', '-')}/{row.get('p99', '-')}" if row else "-")
        table.append(latency + [""] * len(ratio_columns))

    if len(rounds) > 1:
        for key, label in FIGURES:
            cells = ["all", label + " min-max"]
            for column in [NAMES[s] for s in systems] + ratio_columns:
                values = ranges.get((key, column))
                if not values:
                    cells.append("-")
                elif column.startswith("dtq/"):
                    cells.append(f"{min(values):.2f}-{max(values):.2f}x")
                else:
                    cells.append(f"{min(values):,.0f}-{max(values):,.0f}")
            table.append(cells)

    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print()
    print("== dtq beside its peers: the same work, interleaved in one run; ratios within each round")
    for row in table:
        print("  ".join(cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
    print("load average (1 min) before each system, by round: "
          + "; ".join(f"{r}: {' '.join(loads[r])}" for r in rounds))


if __name__ == "__main__":
    main()
