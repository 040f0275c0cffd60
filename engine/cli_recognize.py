"""The recognition commands of ``python -m engine``: ``predict`` (photos with a run's model),
``greek`` (few-shot letters) and ``live`` (bench on synthetic frames, or every symbol of photos).
Each prints its log and fills ``out``, the command's JSON line; returns the exit code."""

from __future__ import annotations

import argparse
import sys


def live(args: argparse.Namespace, out: dict) -> int:
    """``bench``: median ms per synthetic frame and detection accuracy, on one CPU thread.
    ``photo``: the boxes and labels of every symbol on each photo, as the Webcam page shows."""
    import cv2
    import torch

    from engine.config import DEFAULT_RUN_ID
    from engine.data.datasets import CLASSES, ImageError, load
    from engine.nn import live, live_bench
    from engine.runs.store import load_model, runs_dir

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    model, cfg = load_model(args.run_dir or runs_dir() / DEFAULT_RUN_ID)
    if args.action == "photo":
        rec = live.LiveRecognizer(live.net_classifier(model, cfg))
        photos, failed = [], 0
        for path in args.files:
            try:
                frame, scale = live.frame_from_photo(path, name=str(path))
                dets = rec.read_photo(frame)[1]
            except ImageError as e:
                print(f"error: {e}", file=sys.stderr)
                photos.append({"path": str(path), "error": str(e), "detections": []})
                failed += 1
                continue
            print(f"{path}\t{len(dets)} found\t" + " ".join(d.text for d in dets))
            photos.append({"path": str(path), "detections": [d.record(scale) for d in dets]})
        out.update(photos=photos)
        return 1 if failed else 0
    if cfg.dataset != "mnist":
        raise live.LiveError("the bench draws digits: give it a run trained on mnist")
    ds = load("mnist")
    names = [CLASSES["mnist"][k] for k in ds.y_test.tolist()]
    frames = live_bench.bench_frames(ds.x_test.numpy(), names, args.frames, args.digits, args.seed)
    res = live_bench.bench(live.LiveRecognizer(live.net_classifier(model, cfg)), frames)
    print(
        f"{res['frames']} frames of 640x480 with {args.digits} digits: median "
        f"{res['median_ms']:.2f} ms/frame (p90 {res['p90_ms']:.2f}), 1 thread; "
        f"{100 * res['accuracy']:.1f}% of {res['digits']} digits found and labelled right, "
        f"{res['false_detections']} false detections"
    )
    out.update(res)
    return 0


def greek(args: argparse.Namespace, out: dict) -> int:
    from engine.fewshot import embed
    from engine.fewshot.samples import from_folder
    from engine.runs.store import load_model

    model, cfg = load_model(args.run_dir)
    layer = args.layer or model.embedding_layer()
    support = from_folder(args.support)
    for line in support.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    s_emb = embed.embed(model, support.images, cfg, layer)
    print(
        f"{len(support)} support samples {support.counts()}; embeddings of {layer}: {s_emb.shape}"
    )
    if args.query:
        query = from_folder(args.query)
        q_emb = embed.embed(model, query.images, cfg, layer)
        preds = embed.classify(args.method, s_emb, support.labels, q_emb)
        truth, names = query.labels, [s.name for s in query.samples]
    else:
        preds = embed.leave_one_out(args.method, s_emb, support.labels)
        truth, names = support.labels, [s.name for s in support.samples]
    for name, p in zip(names, preds):
        print(f"{p.line()}  ({name})")
    acc = embed.accuracy(preds, truth)
    print(f"accuracy: {100 * acc:.1f}% of {len(truth)} ({args.method}, layer {layer})")
    out.update(accuracy=acc, n=len(truth), method=args.method, layer=layer)
    return 0


def predict(args: argparse.Namespace, out: dict) -> int:
    from engine.data.datasets import CLASSES, ImageError
    from engine.data.preprocess import preprocess
    from engine.nn.predict import classify
    from engine.runs.store import load_model

    model, cfg = load_model(args.run_dir)
    classes = CLASSES[cfg.dataset]
    results, failed = [], 0
    for path in args.images:
        try:
            img = preprocess(path, name=str(path)).image
        except ImageError as e:
            print(f"error: {e}", file=sys.stderr)
            results.append({"path": str(path), "error": str(e)})
            failed += 1
            continue
        probs = classify(model, cfg, img)[0]
        k, p = int(probs.argmax()), float(probs.max())
        print(f"{path}\t{classes[k]}\t{p:.3f}")
        results.append({"path": str(path), "label": classes[k], "probability": p})
    out.update(predictions=results, failed=failed)
    return 1 if failed else 0
