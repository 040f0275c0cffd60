"""``python -m engine sweep run|work|report|stop``: the sweep commands (parser and handlers).

Kept apart from engine.sweep so that building the CLI parser does not import Optuna.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from typing import Any

SAMPLERS = ("grid", "tpe")


def _dim(text: str) -> tuple[str, str]:
    name, sep, values = text.partition("=")
    if not sep or not values.strip():
        raise argparse.ArgumentTypeError(
            f"expected NAME=V1,V2,... (e.g. batch_size=64,256), got {text!r}"
        )
    return name.strip(), values


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``sweep`` and its subcommands to the engine's argparse subparsers."""
    from engine.config import DATASETS
    from engine.presets import PRESETS

    sw = sub.add_parser("sweep", help="experiments over training settings (Optuna)")
    ss = sw.add_subparsers(dest="sweep_command", required=True)
    storage_help = "Optuna storage: postgresql://user@host/db or a journal file path "
    storage_help += "(default runs/sweeps/sweeps.journal)"

    r = ss.add_parser("run", help="create a sweep and train it (this process + helpers)")
    r.add_argument("--name", help="sweep name (default sweep-<date>-<time>)")
    r.add_argument("--storage", help=storage_help)
    r.add_argument(
        "--dim",
        action="append",
        type=_dim,
        metavar="NAME=V1,V2",
        help="a setting and its values, repeatable; settings: batch_size, conv_layers, "
        "kernel_size, activation, filters, hidden, dropout, batchnorm, optimizer, lr, "
        "weight_decay, epochs, seed (default: the seed's four: batch_size=64,256 "
        "conv_layers=1,2 kernel_size=3,5 activation=relu,tanh; for an MLP preset: "
        "batch_size=64,256 hidden=64,128 activation=relu,tanh lr=0.001,0.01)",
    )
    r.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="train every combination with this many seeds (1, 2, ...): the conclusions then "
        "show the spread between repeats (default 1)",
    )
    r.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default="fast",
        help="the base settings every trial starts from (default fast); the sweep varies them",
    )
    r.add_argument(
        "--dataset", choices=DATASETS, help="dataset (default: fashion-mnist for fast, else the "
        "preset's)",
    )  # fmt: skip
    r.add_argument("--epochs", type=int, default=1, help="epochs per trial (default 1)")
    r.add_argument(
        "--limit-train", type=int, default=2000, help="training subset size (0 = all; 2000)"
    )
    r.add_argument(
        "--limit-test", type=int, default=2000, help="test examples evaluated (0 = all; 2000)"
    )
    r.add_argument("--sampler", choices=SAMPLERS, default="grid", help="grid or tpe (default grid)")
    r.add_argument("--trials", type=int, default=20, help="trial budget of a TPE sweep (20)")
    r.add_argument(
        "--pruning", action="store_true", help="median pruning on each epoch's test accuracy"
    )
    r.add_argument(
        "--workers", type=int, default=1, help="worker processes, this one included (default 1)"
    )
    r.add_argument("--seed", type=int, default=1, help="random seed of every trial (default 1)")

    w = ss.add_parser("work", help="join a sweep as a worker (from any machine)")
    w.add_argument("--storage", help=storage_help)
    w.add_argument("--name", required=True, help="the sweep's name")
    w.add_argument("--max-trials", type=int, help="leave after this many trials (default: none)")

    p = ss.add_parser("report", help="print a sweep's trials table and conclusions")
    p.add_argument("--storage", help=storage_help)
    p.add_argument("--name", required=True, help="the sweep's name")

    s = ss.add_parser("stop", help="ask every worker of a sweep to stop (trials are requeued)")
    s.add_argument("--storage", help=storage_help)
    s.add_argument("--name", required=True, help="the sweep's name")


def run_cli(args: argparse.Namespace, out: dict[str, Any]) -> int:
    """Run a ``sweep`` subcommand; fills ``out`` (printed as the last line, JSON)."""
    from engine import sweep

    cmd = args.sweep_command
    out["sweep_command"] = cmd
    if cmd == "run":
        from engine.presets import PRESETS

        space = {n: sweep.parse_values(n, v) for n, v in (args.dim or [])}
        dataset = args.dataset or (
            "fashion-mnist" if args.preset == "fast" else PRESETS[args.preset].dataset
        )
        base = sweep.default_base(
            args.preset,
            dataset=dataset,
            epochs=args.epochs,
            limit_train=args.limit_train,
            limit_test=args.limit_test,
            seed=args.seed,
        )
        if not space:
            dims = sweep.default_dimensions(base.model.family)
            space = {d: sweep.DIMENSIONS[d].seed for d in dims}
        if args.repeats > 1:
            space[sweep.REPEAT] = tuple(range(args.seed, args.seed + args.repeats))
        spec = sweep.SweepSpec(
            base=base, space=space, sampler=args.sampler, n_trials=args.trials,
            pruning=args.pruning, preset=args.preset,
        )  # fmt: skip
        name = sweep.create(spec, args.name, args.storage)
        print(f"sweep {name}: {spec.size()} trials, {len(spec.grid()[1])} combinations skipped")
        helpers = [_helper(name, args.storage) for _ in range(max(0, args.workers - 1))]
        try:
            sweep.work(name, args.storage, echo=lambda s: print(s, flush=True))
        finally:
            for h in helpers:
                h.wait()
        return _report(name, args.storage, out)
    if cmd == "work":
        n = sweep.work(
            args.name, args.storage, echo=lambda s: print(s, flush=True), max_trials=args.max_trials
        )
        out.update(name=args.name, trials_run=n)
        return 0
    if cmd == "stop":
        sweep.stop(args.name, args.storage)
        out.update(name=args.name, stopped=True)
        return 0
    return _report(args.name, args.storage, out)


def _helper(name: str, storage: str | None) -> subprocess.Popen:
    """Another worker process of this sweep, sharing this terminal's output (not detached:
    Ctrl-C stops it with this one; at this process's priority, one thread)."""
    from engine import sweep
    from engine.runs import procs
    from engine.runs.store import runs_dir

    args = ["sweep", "work", "--name", name, "--storage", storage or sweep.default_storage()]
    return procs.spawn(args, procs.worker_env(1, runs_dir(), nice=False), detached=False)


def _report(name: str, storage: str | None, out: dict[str, Any]) -> int:
    from engine import sweep

    rep = sweep.read_report(name, storage)
    dims = list(rep.spec.space)
    head = f"{'trial':>5}  {'state':<9}" + "".join(f"{d:>14}" for d in dims)
    print(head + f"{'accuracy':>10}{'seconds':>9}{'params':>9}")
    for r in sorted(rep.rows, key=lambda r: r.number):
        cells = "".join(f"{sweep.fmt(r.params.get(d, '')):>14}" for d in dims)
        acc = f"{100 * r.accuracy:9.1f}%" if r.accuracy is not None else f"{'':>10}"
        secs = f"{r.seconds:9.2f}" if r.seconds is not None else f"{'':>9}"
        count = f"{r.params_count:9,d}" if r.params_count else f"{'':>9}"
        print(f"{r.number:>5}  {r.state:<9}{cells}{acc}{secs}{count}  {r.error}".rstrip())
    print()
    for line in rep.conclusions():
        print(f"- {line}")
    best = rep.best
    out.update(
        name=name,
        n_complete=rep.count("complete"),
        n_pruned=rep.count("pruned"),
        n_failed=rep.count("failed"),
        n_running=rep.count("running"),
        n_queued=rep.count("queued"),
        n_planned=rep.spec.size(),
        best=None
        if best is None
        else {
            "trial": best.number,
            "params": best.params,
            "accuracy": best.accuracy,
            "seconds": best.seconds,
            "params_count": best.params_count,
            "run_id": best.run_id,
        },
        conclusions=rep.conclusions(),
        time=time.time(),
    )
    return 0
