"""The engine's command line: ``python -m engine COMMAND ...``; the last line printed is JSON.

Commands: data prepare|status, train, resume, worker, eval, predict, summary, live bench|photo,
sweep run|work|report|stop.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from engine import EngineError, cli_recognize


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    from engine.config import ACTIVATIONS, DATASETS, OPTIMIZERS, PADDINGS, POOLS, SCHEDULES
    from engine.presets import PRESETS

    p = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="prepare or show the datasets")
    d.add_argument("action", choices=("prepare", "status"), help="prepare: fetch/convert files")
    d.add_argument(
        "--dataset", choices=(*DATASETS, "all"), default="all", help="which dataset (default all)"
    )
    d.add_argument(
        "--data-dir", type=Path, help="data directory (default $ENGINE_DATA_DIR or ./data)"
    )

    t = sub.add_parser("train", help="train a model into a new run directory")
    t.add_argument("--preset", choices=tuple(PRESETS), default="fast", help="starting settings")
    t.add_argument("--dataset", choices=DATASETS, help="dataset (default: the preset's)")
    t.add_argument("--model", choices=("cnn", "mlp"), help="network family (its classic shape)")
    t.add_argument("--channels", type=_ints, help="filters per conv layer, e.g. 10,20")
    t.add_argument("--kernel-sizes", type=_ints, help="kernel size per conv layer, e.g. 5,5")
    t.add_argument(
        "--layers",
        help="each conv layer as FILTERSxKERNEL, p = 2x2 pooling after it: 32x3,32x3p "
        "(overrides --channels and --kernel-sizes)",
    )
    t.add_argument("--padding", choices=PADDINGS, help="conv padding")
    t.add_argument("--pool", choices=POOLS, help="2x2 pooling after each conv")
    t.add_argument("--activation", choices=ACTIVATIONS, help="activation function")
    t.add_argument(
        "--batchnorm", action=argparse.BooleanOptionalAction, help="BatchNorm after convs"
    )
    t.add_argument("--dropout", type=float, help="dropout probability")
    t.add_argument("--hidden", type=_ints, help="hidden fc widths, e.g. 512,512")
    t.add_argument("--epochs", type=int, help="number of epochs")
    t.add_argument("--batch-size", type=int, help="examples per step")
    t.add_argument("--lr", type=float, help="learning rate (peak, with onecycle)")
    t.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer")
    t.add_argument("--momentum", type=float, help="SGD momentum")
    t.add_argument("--weight-decay", type=float, help="weight decay")
    t.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule")
    t.add_argument("--seed", type=int, help="random seed (init, shuffle, dropout)")
    t.add_argument("--limit-train", type=int, help="train on N examples (0 = all)")
    t.add_argument(
        "--augment",
        help="random distortions of each batch: affine, elastic, stroke, photo joined by +",
    )
    t.add_argument("--limit-test", type=int, help="evaluate on N test examples (0 = all)")
    t.add_argument("--log-every", type=int, help="batches between loss lines (default 100)")
    t.add_argument("--threads", type=int, help="CPU threads (0 = auto)")
    t.add_argument("--device", help="auto, cpu, cuda or mps (default auto)")
    t.add_argument(
        "--snapshots",
        action=argparse.BooleanOptionalAction,
        help="keep the weights after each epoch in RUN/snapshots/ (default on; always off for "
        "nets over 1 MB of weights)",
    )
    t.add_argument(
        "--runs-dir", type=Path, help="runs directory (default $ENGINE_RUNS_DIR or ./runs)"
    )
    t.add_argument("--run-id", help="name of the run directory (default: time-dataset-model-xxxx)")
    t.add_argument(
        "--dry-run", action="store_true", help="smoke test: 1 epoch on 256 examples, 256 test"
    )

    r = sub.add_parser("resume", help="continue (or start) an existing run from its checkpoint")
    r.add_argument("run_dir", type=Path, help="the run directory")

    w = sub.add_parser("worker", help="take trainings and sweep trials from the task queue")
    w.add_argument(
        "--queue",
        choices=("cpu", "gpu"),
        default="cpu",
        help="which queue: gpu takes the trainings that ask for a CUDA device",
    )
    w.add_argument(
        "--concurrency", type=int, default=1, help="tasks at once, one process each (default 1)"
    )
    w.add_argument("--runs-dir", type=Path,
                   help="the shared runs folder (default $ENGINE_RUNS_DIR or ./runs)")  # fmt: skip

    e = sub.add_parser("eval", help="test accuracy of a run's checkpoint")
    e.add_argument("run_dir", type=Path, help="the run directory")

    dm = sub.add_parser(
        "default-model", help="train the default digit model (first open) if it is missing"
    )
    dm.add_argument("--runs-dir", type=Path, help="runs directory (default ./runs)")

    pr = sub.add_parser("predict", help="classify image files with a run's model")
    pr.add_argument("run_dir", type=Path, help="the run directory")
    pr.add_argument("images", type=Path, nargs="+", help="image files (photos of ink on paper)")

    g = sub.add_parser("greek", help="few-shot classification of letters with a digit network")
    g.add_argument("run_dir", type=Path, help="the run directory of a trained digit network")
    g.add_argument(
        "--support", type=Path, required=True, help="folder with a subfolder of images per class"
    )
    g.add_argument(
        "--query",
        type=Path,
        help="folder of labelled queries (subfolder per class); default: leave-one-out on support",
    )
    g.add_argument(
        "--method", choices=("nn", "centroid", "finetune"), default="nn", help="method (default nn)"
    )
    g.add_argument(
        "--layer", help="layer to cut the network at (default: flatten for a CNN; docs/fewshot.md)"
    )

    su = sub.add_parser("summary", help="print a run's layer table (like Keras' model.summary)")
    su.add_argument("run_dir", type=Path, help="the run directory")
    su.add_argument(
        "--upto",
        metavar="LAYER",
        help="print the sub-model up to and including this layer (e.g. fc1: the embedding)",
    )

    lv = sub.add_parser("live", help="live recognition: benchmark on frames, or read photos")
    lv_sub = lv.add_subparsers(dest="action", required=True)
    lb = lv_sub.add_parser("bench", help="time synthetic 640x480 frames and score them")
    lb.add_argument("--frames", type=int, default=100, help="number of frames (default 100)")
    lb.add_argument("--digits", type=int, default=6, help="digits per frame (default 6)")
    lb.add_argument("--seed", type=int, default=0, help="random seed of the frames")
    lp = lv_sub.add_parser("photo", help="every symbol on each photo: boxes, labels (JSON)")
    lp.add_argument("files", nargs="+", type=Path, metavar="FILE", help="photos to read")
    for q in (lb, lp):
        q.add_argument(
            "--run-dir", type=Path, help="a trained digit run (default: the default model)"
        )

    from engine.sweep.cli import add_parser as add_sweep_parser

    add_sweep_parser(sub)
    return p


def config_from_args(a: argparse.Namespace):
    """The TrainConfig of ``train``'s flags: the preset, then family default, then each flag."""
    from engine.config import layer_fields
    from engine.presets import CLASSIC_CNN, SEED_MLP, preset

    cfg = preset(a.preset)
    model = cfg.model
    if a.model and a.model != model.family:
        model = CLASSIC_CNN if a.model == "cnn" else SEED_MLP
    m_over = {
        k: getattr(a, k)
        for k in ("channels", "padding", "pool", "activation", "batchnorm", "dropout", "hidden")
        if getattr(a, k) is not None
    }
    if a.kernel_sizes is not None:
        m_over["kernel_sizes"] = a.kernel_sizes
    if "channels" in m_over and "kernel_sizes" not in m_over:  # one kernel size for every layer
        m_over["kernel_sizes"] = (model.kernel_sizes[0],) * len(m_over["channels"])
    if a.layers:
        m_over.update(layer_fields(a.layers, m_over.get("pool", model.pool)))
    model = replace(model, **m_over)  # one step: a ModelConfig is checked when it is made
    t_over = {
        k: getattr(a, k)
        for k in (
            "dataset", "epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay",
            "schedule", "seed", "limit_train", "limit_test", "log_every", "threads", "device",
            "augment", "snapshots",
        )
        if getattr(a, k) is not None
    }  # fmt: skip
    if a.dry_run:
        t_over.update(epochs=1, limit_train=256, limit_test=256, log_every=1)
    return replace(cfg, model=model, **t_over)


def _run_and_report(run, out) -> int:
    from engine.runs.runner import execute
    from engine.runs.store import RunState

    state = execute(run, echo=lambda s: print(s, flush=True))
    st = run.status()
    out.update(
        run_dir=str(run.path),
        state=state.value,
        test_accuracy=st.get("test_accuracy"),
        seconds=st.get("seconds"),
        message=st.get("message", ""),
    )
    return 0 if state == RunState.COMPLETE else 1


def main(argv: list[str] | None = None) -> int:
    from engine.runs.procs import apply_nice

    args = build_parser().parse_args(argv)
    out: dict = {"command": args.command}
    code = 0
    try:
        # Reads the settings first: a bad ENGINE_*/WEBRTC_* value is the error below.
        apply_nice()  # background jobs and sweep workers run niced (engine.runs.procs.worker_env)
        if args.command in ("sweep", "worker"):  # the processes that run sweep trials
            from engine.sweep.study import quiet_optuna

            quiet_optuna()
        if args.command == "data":
            from engine.config import DATASETS
            from engine.data import datasets

            names = DATASETS if args.dataset == "all" else (args.dataset,)
            out["datasets"] = {}
            for name in names:
                info = datasets.prepare(name, args.data_dir) if args.action == "prepare" else None
                if info is None:
                    info = datasets.load(name, args.data_dir, prepare_if_missing=False).info
                print(info.describe(), flush=True)
                out["datasets"][name] = info.__dict__
            if args.action == "prepare" and "mnist" in names:
                from engine.data.glyphs import glyph_data
                from engine.glyph_sets import GLYPH_SETS

                for g in GLYPH_SETS:  # the default digit model's extra training classes
                    n = len(glyph_data(g, args.data_dir)[0])
                    print(f"glyphs {g}: {n:,} rendered images", flush=True)
                    out.setdefault("glyphs", {})[g] = n
        elif args.command == "train":
            from engine.runs.store import create_run

            cfg = config_from_args(args)
            run = create_run(cfg, args.runs_dir, args.run_id)
            print(f"Run {run.path}", flush=True)
            code = _run_and_report(run, out)
        elif args.command == "resume":
            from engine.runs.store import open_run

            run = open_run(args.run_dir)
            run.cancel_path.unlink(missing_ok=True)  # an old Cancel must not stop this one
            code = _run_and_report(run, out)
        elif args.command == "worker":
            from engine.queue import tasks

            if args.runs_dir is not None:
                os.environ["ENGINE_RUNS_DIR"] = str(args.runs_dir)
            tasks.run_worker(args.queue, args.concurrency, args.runs_dir)
        elif args.command == "eval":
            from engine.data.datasets import load, normalize
            from engine.runs.store import load_model
            from engine.training.loop import evaluate

            model, cfg = load_model(args.run_dir)
            ds = load(cfg.dataset)
            loss, acc = evaluate(model, normalize(ds.x_test, cfg), ds.y_test)
            print(f"Test Error: Accuracy: {100 * acc:.1f}%, Avg loss: {loss:>8f}")
            out.update(
                run_dir=str(args.run_dir), test_accuracy=acc, test_loss=loss, n=len(ds.y_test)
            )
        elif args.command == "default-model":
            code = _default_model(args, out)
        elif args.command == "predict":
            code = cli_recognize.predict(args, out)
        elif args.command == "greek":
            code = cli_recognize.greek(args, out)
        elif args.command == "live":
            code = cli_recognize.live(args, out)
        elif args.command == "sweep":
            from engine.sweep.cli import run_cli

            code = run_cli(args, out)
        elif args.command == "summary":
            from engine.nn.inspect import layer_table
            from engine.runs.store import load_model

            model, _ = load_model(args.run_dir)
            table = layer_table(model, title=args.run_dir.resolve().name, upto=args.upto)
            print(table.text())
            out.update(
                run_dir=str(args.run_dir),
                upto=table.rows[-1].name,
                total_params=table.total,
                trainable_params=table.trainable,
                non_trainable_params=table.non_trainable,
            )
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr)
        out["error"] = str(e)
        code = 2
    print(json.dumps(out, default=str))
    return code


def _default_model(args: argparse.Namespace, out: dict) -> int:
    """Train ``runs/default-digit-cnn-v3`` (engine.presets.DEFAULT_MODEL) unless it is complete."""
    from engine.config import DEFAULT_RUN_ID
    from engine.presets import DEFAULT_MODEL
    from engine.runs.store import Run, RunState, create_run, runs_dir

    run = Run(Path(args.runs_dir or runs_dir()) / DEFAULT_RUN_ID)
    if (run.path / "config.json").is_file() and run.state() == RunState.COMPLETE:
        print(f"default model ready: {run.path}")
        out.update(run_dir=str(run.path), state="complete", trained=False)
        return 0
    if not (run.path / "config.json").is_file():
        run = create_run(DEFAULT_MODEL, args.runs_dir, DEFAULT_RUN_ID)
    print(f"training the default digit model into {run.path} (first setup, about a minute)")
    code = _run_and_report(run, out)
    out["trained"] = True
    return code


if __name__ == "__main__":
    sys.exit(main())
