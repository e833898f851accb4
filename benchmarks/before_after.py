"""Before and after, in one run: the 30-day footprint API at fleet size and the overview page
with a year of facts, timed with the code of a base commit and with this tree on the same
databases, alternating, with the machine's load beside each figure.

    .venv/bin/python benchmarks/before_after.py [--base 7de19d3] [--rounds 2] [--requests 20]
        [--footprint-db greenai_bench_footprint_api] [--pages-db greenai_bench_pages]
        [--server postgres://postgres@127.0.0.1:5432]

Needs the databases that `benchmarks/footprint_api.py --keep` (5,000 GPUs x 30 days) and
`benchmarks/pages.py --keep` (500 GPUs x 365 days) leave (about 10 minutes each to fill on an
idle 2-core machine; either tree's scripts fill them the same way). The base code runs from a
`git worktree` of the base commit (made under /tmp if missing, sharing this tree's .venv); each
measurement is a fresh process of this script with `--measure TREE`, which imports that tree's
code, migrates the database to it (the base code ignores the tables it does not know) and, for
this tree, builds the in-service rows first as the rollup would after the migration (timed
apart), then ANALYZEs the database (both trees). Targets (issue 17): each p95 at most 100 ms
and at least twice as fast as the base.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="7de19d3", help="commit of the code before")
    parser.add_argument("--base-tree", help="an existing checkout of the base commit")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--footprint-db", default="greenai_bench_footprint_api")
    parser.add_argument("--pages-db", default="greenai_bench_pages")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--only", choices=["footprint", "overview"])
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # TREE: one measurement
    parser.add_argument("--what", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    return parser.parse_args()


def percentile(values, share):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


def measure(args) -> None:
    """In a fresh process: time one page with the code of the tree given."""
    tree = Path(args.measure)
    sys.path[:] = [str(tree / "benchmarks"), *[p for p in sys.path if "benchmarks" not in p]]
    os.chdir(tree)
    import pages  # the tree's own benchmark helpers (setup_django puts the tree on sys.path)

    assert Path(pages.__file__).resolve().parent.parent == tree.resolve(), pages.__file__
    pages.DB_NAME = args.db
    pages.setup_django(args.server)
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client

    from assessments.models import HourlyDeviceFact

    built_s = None
    try:
        from assessments.footprint.in_service import in_service_refresh
    except ImportError:  # the code before
        pass
    else:
        began = time.perf_counter()
        in_service_refresh()
        built_s = time.perf_counter() - began
    # Statistics of the tables a migration just filled, as autovacuum would gather them soon
    # after (both trees alike; not timed).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))
    if args.what == "footprint":
        end = HourlyDeviceFact.objects.latest("hour").hour.replace(minute=0) + timedelta(hours=1)
        first = (end - timedelta(days=30)).date()
        url = f"/api/v1/footprint?start={first}&end={end.date()}"
    else:
        url = "/"
    client.get(url)  # warm up imports and connections
    # What this tree's web worker does once loaded (pages.web_process_state; none in older trees).
    getattr(pages, "web_process_state", lambda: None)()
    times = []
    for _ in range(args.requests):
        cache.clear()  # every figure computed, as benchmarks/pages.py times them
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    figures = {
        "url": url,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "in_service_rows_s": built_s and round(built_s, 1),
    }
    if args.what == "footprint":
        answer = client.get(url).json()
        figures["embodied_kgco2e"] = answer["embodied_kgco2e"]
        figures["coverage"] = answer["coverage"]
    print("RESULT " + json.dumps(figures))


def base_tree(commit: str) -> Path:
    tree = Path(f"/tmp/greenai-base-{commit}")
    if not tree.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit], check=True
        )
    venv = tree / ".venv"
    if not venv.exists():
        venv.symlink_to((ROOT / ".venv").resolve())
    return tree


def load() -> str:
    """The 1, 5 and 15-minute load averages (the machine is shared)."""
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_one(tree: Path, what: str, db: str, args) -> dict:
    command = [
        str(ROOT / ".venv" / "bin" / "python"),
        str(Path(__file__).resolve()),
        "--measure",
        str(tree),
        "--what",
        what,
        "--db",
        db,
        "--requests",
        str(args.requests),
        "--server",
        args.server,
    ]
    before = load()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{tree} {what}: failed\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    result["load_before"], result["load_after"] = before, load()
    return result


def main():
    args = parse_args()
    if args.measure:
        measure(args)
        return
    before_tree = Path(args.base_tree) if args.base_tree else base_tree(args.base)
    trees = {"before": before_tree, "after": ROOT}
    wanted = [
        ("footprint", args.footprint_db),
        ("overview", args.pages_db),
    ]
    if args.only:
        wanted = [item for item in wanted if item[0] == args.only]
    print(f"base {args.base} at {trees['before']}; this tree {ROOT}")
    summary = {}
    for what, db in wanted:
        for round_ in range(args.rounds):
            for label in ("before", "after"):
                result = run_one(trees[label], what, db, args)
                summary.setdefault((what, label), []).append(result)
                print(
                    f"{time.strftime('%H:%M:%S', time.gmtime())} UTC {what} {label} round "
                    f"{round_ + 1}: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms "
                    f"(load {result['load_before']} -> {result['load_after']})"
                    + (
                        f", in-service rows built in {result['in_service_rows_s']} s"
                        if result.get("in_service_rows_s")
                        else ""
                    )
                    + (
                        f", embodied {result['embodied_kgco2e']:.6g} kgCO2e,"
                        f" coverage {result['coverage']:.6g}"
                        if what == "footprint"
                        else ""
                    ),
                    flush=True,
                )
        before = min(r["p95_ms"] for r in summary[(what, "before")])
        after = max(r["p95_ms"] for r in summary[(what, "after")])
        print(
            f"{what}: best p95 before {before} ms, worst p95 after {after} ms, "
            f"{before / after:.1f}x; target p95 <= 100 ms and >= 2x: "
            f"{'met' if after <= 100 and before / after >= 2 else 'NOT met'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
