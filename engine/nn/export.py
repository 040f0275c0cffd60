"""Export a trained model to ONNX (for use outside PyTorch: onnxruntime, the browser, ...), and
the model card that travels with every download: in the ONNX file's ``metadata_props`` and as a
README beside the checkpoint or the ONNX file in the downloaded ZIP."""

from __future__ import annotations

import copy
import io
import json
import logging
import warnings
import zipfile

import torch

from engine import EngineError
from engine.config import IMAGE_SIZE, TrainConfig
from engine.data.datasets import CLASSES, STATS
from engine.nn.models import Model

INPUT, OUTPUT = "image", "scores"
MAX_BATCH = 65536  # the exported graph's batch dimension may be 1 … this


def model_card(cfg: TrainConfig, run_id: str = "") -> dict[str, str]:
    """What a user of the exported model needs to know, as ONNX ``metadata_props`` (strings)."""
    classes = list(CLASSES[cfg.dataset][: cfg.model.num_classes])
    if cfg.standardize:
        mean, std = STATS[cfg.dataset]
        norm = f"x = (pixel / 255 - {mean}) / {std}"
    else:
        mean, std = None, None
        norm = "x = pixel / 255 (no standardisation)"
    if cfg.model.log_softmax:
        outputs = "log-probabilities (log-softmax): exp(scores) are the class probabilities"
    else:
        outputs = "logits: softmax(scores) gives the class probabilities"
    return {
        "run_id": run_id,
        "dataset": cfg.dataset,
        "input": f"{INPUT}: float32 (batch, 1, {IMAGE_SIZE}, {IMAGE_SIZE})",
        "normalisation": norm,
        "normalisation_mean": "none" if mean is None else str(mean),
        "normalisation_std": "none" if std is None else str(std),
        "ink_polarity": (
            "white (255) ink on a black (0) background, like MNIST: invert photos of dark ink on "
            "light paper; the symbol's longest side is 20 px, centred by mass in 28x28"
        ),
        "outputs": f"{OUTPUT}: float32 (batch, {len(classes)}), {outputs}",
        "output_kind": "log_probabilities" if cfg.model.log_softmax else "logits",
        "class_names": json.dumps(classes, ensure_ascii=False),
    }


def readme(cfg: TrainConfig, run_id: str, model_file: str) -> str:
    """The model card as the README.md of a download; ``model_file`` is the file beside it."""
    card = model_card(cfg, run_id)
    classes = ", ".join(f"{i} = {c}" for i, c in enumerate(json.loads(card["class_names"])))
    if model_file.endswith(".onnx"):
        use = (
            "```python\n"
            "import numpy as np, onnxruntime as ort\n"
            f"session = ort.InferenceSession({model_file!r})\n"
            f'scores = session.run(["{OUTPUT}"], {{"{INPUT}": x}})[0]  '
            f"# x: float32 (batch, 1, {IMAGE_SIZE}, {IMAGE_SIZE})\n"
            "```\n"
            "The same card is in the ONNX file's metadata (`metadata_props`)."
        )
    else:
        use = (
            "```python\n"
            "from engine.runs.store import load_model  # this project's engine\n"
            f"model, cfg = load_model('runs/{run_id}')  # folder holding {model_file}\n"
            "```\n"
            "or `python -m engine resume runs/RUN_ID` to train more epochs. The checkpoint also "
            "holds the optimizer state and the full training config; load it only with "
            "`torch.load(..., weights_only=True)`."
        )
    return (
        f"# {run_id or 'model'}: {cfg.dataset} classifier\n\n"
        f"- **File**: `{model_file}`\n"
        f"- **Input**: {card['input']}\n"
        f"- **Normalisation**: {card['normalisation']} "
        f"(mean {card['normalisation_mean']}, std {card['normalisation_std']})\n"
        f"- **Ink polarity**: {card['ink_polarity']}\n"
        f"- **Outputs**: {card['outputs']}\n"
        f"- **Classes** (output index = class): {classes}\n\n"
        f"## Use\n\n{use}\n"
    )


def onnx_bytes(model: Model, cfg: TrainConfig | None = None, run_id: str = "") -> bytes:
    """The model as an ONNX file from the current (dynamo) exporter: input "image"
    (batch, 1, 28, 28) normalised as in training, output "scores"; with ``cfg``, the model card
    goes into its ``metadata_props``.

    It exports a private copy: the exporter swaps a module's parameters while it traces, and
    ``model`` may be the one object that every visitor's page classifies with at this moment."""
    import onnx  # noqa: F401 - fail here with a clear message rather than inside the exporter

    model = copy.deepcopy(model).eval().cpu()
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    try:
        quiet.setLevel(logging.ERROR)  # the exporter reports each step at INFO/WARNING
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model,
                (torch.zeros(2, 1, IMAGE_SIZE, IMAGE_SIZE),),  # 2: a batch of 1 specialises
                dynamo=True,
                input_names=[INPUT],
                output_names=[OUTPUT],
                dynamic_shapes=({0: batch},),
                verbose=False,
            )
        proto = program.model_proto
    except Exception as e:  # noqa: BLE001 - exporter failures come in many types
        raise EngineError(f"ONNX export failed: {type(e).__name__}: {str(e)[:200]}") from None
    finally:
        quiet.setLevel(level)
    if cfg is not None:
        del proto.metadata_props[:]
        for k, v in model_card(cfg, run_id).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        proto.doc_string = f"{cfg.dataset} classifier {run_id}".strip()
    return proto.SerializeToString()


def bundle(files: dict[str, bytes]) -> bytes:
    """A ZIP of ``files`` (name → bytes), for a download with its README."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()
