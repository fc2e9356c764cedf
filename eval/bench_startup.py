"""Start-up benchmark: wall time of ``versebert --help`` and of a BM25-only ``versebert search``.

    python eval/bench_startup.py [--repeats 7] [--cold-repeats 3] [--output outputs/bench]

Every measurement is a fresh subprocess (what a user waits for), repeated, reported as the median
(and min/max). "Cold" searches run with an empty search-index cache (the cleaned verse texts are
copied in, so cold means building the default index, not re-cleaning the Bibles); "warm" ones load
the cached index with a warm file cache. Also measured in fresh subprocesses: the import time of
each heavy package, which is what the query path must avoid. CPU time (user + system) is reported
beside wall time, since on a shared machine wall time also counts waiting for a core. Writes
``startup.json`` and ``startup.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from versebert.machine import cpu_model

QUERY = "give you a new heart"
HEAVY_PACKAGES = ("torch", "transformers", "sentence_transformers", "datasets", "bm25s", "numpy")


def cpu_kind() -> str:
    """The CPU model, the CPUs this process may use and the vector extensions that matter for numpy/torch."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    vector = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    return f"{cpu_model()}, {'/'.join(vector) or 'no AVX2'}"


def timed_run(command: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one subprocess; fails loudly if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def summary(samples: list[tuple[float, float]]) -> dict:
    walls, cpus = [wall for wall, _ in samples], [cpu for _, cpu in samples]
    return {"median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
            "max_s": round(max(walls), 3), "cpu_median_s": round(statistics.median(cpus), 3), "runs": len(walls)}


def import_seconds(package: str, env: dict, repeats: int) -> float | None:
    code = f"import time; t = time.perf_counter(); import {package}; print(time.perf_counter() - t)"
    times = []
    for _ in range(repeats):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        if result.returncode != 0:
            return None
        times.append(float(result.stdout.strip().splitlines()[-1]))
    return round(statistics.median(times), 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="warm runs per command (default 7)")
    parser.add_argument("--cold-repeats", type=int, default=3, help="cold-cache searches (default 3)")
    parser.add_argument("--output", type=Path, default=Path("outputs/bench"))
    args = parser.parse_args()

    versebert = [sys.executable, "-m", "versebert.cli"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    # An installed package has its bytecode; without it every start recompiles ~40 modules (0.1 s).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    search = [*versebert, "search", QUERY, "-k", "10"]
    results = {"cpu": cpu_kind(), "python": platform.python_version(), "query": QUERY,
               "load_average_before": os.getloadavg()[0]}

    results["help"] = summary([timed_run([*versebert, "--help"], env) for _ in range(args.repeats)])
    timed_run(search, env)  # make sure the user's cache holds the default index and cleaned texts
    results["search_warm"] = summary([timed_run(search, env) for _ in range(args.repeats)])

    from versebert.data.cache import cache_dir

    cold = []
    for _ in range(args.cold_repeats):
        with tempfile.TemporaryDirectory() as empty:
            shutil.copytree(cache_dir("verses"), Path(empty) / "verses")
            shutil.copytree(cache_dir("pythonbible"), Path(empty) / "pythonbible")
            cold.append(timed_run(search, {**env, "VERSEBERT_CACHE": empty}))
    results["search_cold"] = summary(cold)
    results["imports_s"] = {package: import_seconds(package, env, 3) for package in HEAVY_PACKAGES}
    results["load_average_after"] = os.getloadavg()[0]

    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "startup.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output / "startup.md").write_text(to_markdown(results))
    print(to_markdown(results))
    return 0


def to_markdown(results: dict) -> str:
    lines = [
        f"# Start-up ({results['cpu']}; Python {results['python']}; load average "
        f"{results['load_average_before']:.1f} before, {results['load_average_after']:.1f} after)", "",
        "| command | median wall | min | max | median CPU (user+sys) | runs |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in (("help", "`versebert --help`"),
                       ("search_warm", f'`versebert search "{results["query"]}"`, warm cache'),
                       ("search_cold", f'`versebert search "{results["query"]}"`, cold index cache (builds it)')):
        row = results[key]
        lines.append(f"| {label} | {row['median_s']:.2f} s | {row['min_s']:.2f} s | {row['max_s']:.2f} s | "
                     f"{row['cpu_median_s']:.2f} s | {row['runs']} |")
    lines += ["", "| package | import time (fresh process, median of 3) |", "| --- | ---: |"]
    lines += [f"| {package} | {'not installed' if seconds is None else f'{seconds:.2f} s'} |"
              for package, seconds in results["imports_s"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
