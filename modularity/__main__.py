"""Command line: ``python -m modularity {run, list, book, data, bench}``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from modularity.data.root import DataError
from modularity.parameters import ParameterError, parse_override


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m modularity",
                                     description="Run, list, certify and publish the book's notebooks; build the book; "
                                                 "benchmark; manage the data root.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute a notebook at a preset (published unless -p is given)")
    run.add_argument("notebook", help="a notebook of notebooks/ (see `list`)")
    run.add_argument("--preset", help="a preset of notebooks/presets.yaml: smoke (seconds, never published), cpu "
                     "(the book's), paper, …; without it, the presets and their costs are listed")
    run.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="override one parameter; the run then goes to runs_local/, never book/runs/")
    run.add_argument("--render", action="store_true",
                     help="re-execute the published run from its stored per-seed results (no training) and "
                          "republish it; for runs that `list` marks `render`")
    run.add_argument("--executor", default="local", choices=["local", "ray"],
                     help="where the notebook's seeds and configurations are computed: in the notebook's kernel "
                          "(local, the default) or as Ray tasks (pip install '.[ray]'); the run is the same")
    run.add_argument("--address", help="with --executor ray: a running Ray cluster (e.g. ray://head:10001 or "
                     "auto); without it a local Ray instance is started")
    run.add_argument("--workers", type=int, help="with --executor ray and no --address: CPUs of the local "
                     "instance (default: all)")
    run.add_argument("--task-cpus", type=int, default=1, help="with --executor ray: threads (and CPUs requested) "
                     "per task (default 1)")

    sub.add_parser("list", help="notebooks, presets and whether their published runs are fresh, need re-rendering "
                   "(only presentation changed) or are stale (the code that computed them changed)")

    certify = sub.add_parser("certify", help="after a refactor of computation code: compare the old and new code "
                             "at the smoke preset and, if every metric is bit-identical, certify the published run")
    certify.add_argument("notebook")
    certify.add_argument("--preset", required=True, help="the published run to certify, e.g. cpu")

    readme = sub.add_parser("readme", help="rewrite the README's generated tables from the published runs")
    readme.add_argument("--check", action="store_true", help="only say whether they are current (exit 1 if not)")

    book = sub.add_parser("book", help="rerun stale or missing cpu runs, then build the book strictly")
    book.add_argument("--no-rerun", action="store_true", help="build from the published runs as they are")

    bench = sub.add_parser("bench", help="masks: steps/s of base and mask training against a reference "
                           "transcription; stages: batched mask stages against one at a time; breakdown: where a mask "
                           "step's time goes; heap: freed memory kept against returned; clustering: shuffle-null "
                           "clusterings/s against scikit-learn")
    bench.add_argument("suite", nargs="?", default="masks",
                       choices=["masks", "stages", "breakdown", "heap", "clustering"],
                       help="masks (default); stages: mask stages batched against one at a time; breakdown: each "
                       "part of a mask step timed alone; heap: mask training with freed memory kept in the heap "
                       "against glibc's default; clustering")
    bench.add_argument("--threads", type=int, default=2)
    bench.add_argument("--graphs", type=int, default=16, help="clustering: shuffled graphs per network")
    bench.add_argument("--quick", action="store_true", help="fewer steps (a rough check, not a measurement)")
    bench.add_argument("--output", default="bench.json", help="where to write the JSON report")

    data = sub.add_parser("data", help="manage the data root")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    prepare = data_sub.add_parser("prepare", help="link and verify datasets from a local copy")
    prepare.add_argument("--from", dest="source", required=True,
                         help="folder holding mnist/, fashion_mnist/, cifar10_jpeg/, scan/ (or torchvision's "
                         "MNIST/raw, FashionMNIST/raw, cifar-10-batches-py)")
    download = data_sub.add_parser("download", help="fetch MNIST, Fashion-MNIST, CIFAR-10 and SCAN from their "
                                   "official sources into the data root, verified by checksum")
    download.add_argument("datasets", nargs="*", help="any of mnist, fashion_mnist, cifar10, scan (default: all)")
    download.add_argument("--mirror", help="a base URL holding <dataset>/<file>, instead of the official mirrors")
    data_sub.add_parser("where", help="print the data root")
    return parser


def _list_presets(notebook: str) -> int:
    """``run NOTEBOOK`` without ``--preset``: say what each preset is and costs instead of starting one."""
    from modularity import runner

    runner.notebook_source(notebook)  # an unknown notebook is refused first
    presets = runner.presets_of(notebook)
    print(f"{notebook}: choose a preset with --preset (nothing was run)", file=sys.stderr)
    for preset, values in presets.items():
        manifest = runner.read_manifest(notebook, preset) if preset != runner.TEST_PRESET else None
        cost = f"last run {manifest['wall_time_s'] / 60:.0f} min" if manifest else "no published run"
        if preset == runner.TEST_PRESET:
            cost = "seconds; for tests, never published"
        shown = ", ".join(f"{k}={v}" for k, v in values.items()) or "the notebook's defaults"
        print(f"  {preset:<18} {cost:<36} {shown}", file=sys.stderr)
    return 2


@contextlib.contextmanager
def sigterm_as_interrupt():
    """A SIGTERM (a cluster scheduler's time limit, `kill`) stops a command the way Ctrl-C does: finished seeds
    stay cached, a run keeps its partial notebook and removes its work folder and lock. Python's default
    SIGTERM ends the process at once, cleaning nothing up."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with sigterm_as_interrupt():
        return _command(args)


def _command(args: argparse.Namespace) -> int:
    try:
        if args.command == "run":
            from modularity import runner

            if args.preset is None:
                return _list_presets(args.notebook)
            overrides = {}
            for name, value in args.p:
                if name in overrides:
                    raise ParameterError(f"parameter {name!r} given twice")
                overrides[name] = parse_override(value)
            executor = runner.Executor(args.executor, args.address, args.workers, args.task_cpus)
            return runner.main_run(args.notebook, args.preset, overrides, render=args.render, executor=executor)
        if args.command == "list":
            from modularity import runner

            rows = runner.run_table()
            print(f"{'notebook':<24} {'preset':<16} {'state':<8} {'runtime':>9}  {'device':<6} {'commit':<8}  why")
            for row in rows:
                wall = f"{row['wall_time_s'] / 60:.1f} min" if row.get("wall_time_s") else ""
                state = row.get("state") or "-"
                why = row.get("reason") or ("" if state != "-" else row["status"])
                print(f"{row['notebook']:<24} {row['preset']:<16} {state:<8} {wall:>9}  "
                      f"{row.get('device') or '':<6} {row.get('commit') or '':<8}  {why}")
            errors = sorted({row["error"] for row in rows if row.get("error")})
            for error in errors:
                print(f"error: {error}", file=sys.stderr)
            return 2 if errors else 0
        if args.command == "certify":
            from modularity import certify

            print(certify.certify(args.notebook, args.preset), file=sys.stderr)
            return 0
        if args.command == "readme":
            from modularity import readme

            current = readme.update(check=args.check)
            print("README tables are current" if current else "README tables are out of date: run "
                  "`python -m modularity readme`", file=sys.stderr)
            return 0 if current else 1
        if args.command == "book":
            from modularity import book

            return book.build(rerun=not args.no_rerun)
        if args.command == "bench" and args.threads < 1:
            raise ParameterError(f"--threads must be at least 1, got {args.threads}")
        if args.command == "bench" and args.suite == "clustering":
            from modularity import bench_clustering

            return bench_clustering.main(args.graphs, args.threads, args.output)
        if args.command == "bench" and args.suite == "breakdown":
            from modularity import bench_mask_step

            return bench_mask_step.main(args.threads, args.quick, args.output)
        if args.command == "bench":
            from modularity import bench

            return bench.main(args.threads, args.quick, args.output, args.suite)
        if args.command == "data":
            from modularity.data import root

            if args.data_command == "where":
                print(root.data_root())
                return 0
            if args.data_command == "download":
                from modularity.data.download import download

                report = download(args.datasets, args.mirror, progress=lambda line: print(line, file=sys.stderr))
            else:
                from modularity.data.prepare import prepare

                report = prepare(args.source)
            for name, status in report.items():
                print(f"{name:<16} {status}")
            return 0
    except (ParameterError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished seeds are cached and a rerun resumes from them", file=sys.stderr)
        return 130
    except Exception as error:
        from modularity.runner import RunError

        if isinstance(error, RunError):
            print(f"error: {error}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
