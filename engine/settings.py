"""Every setting the app reads from the environment, in one frozen ``Settings``: its variable,
default, meaning and check are here and nowhere else (docs/hosting.md's table is compared with
it by a test). ``current()`` parses the environment once and again only when it changed, so a
test that sets a variable sees it; a bad value is a ``SettingsError`` naming the variable, which
the entry points (the app, ``python -m engine``) show before anything runs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path

from engine import EngineError


class SettingsError(EngineError):
    """An environment variable of ours holds a value it cannot take."""


def _s(env: str, doc: str, default, *, secret: bool = False, least: int = 0):
    return field(
        default=default, repr=not secret, metadata={"env": env, "doc": doc, "least": least}
    )


@dataclass(frozen=True)
class Settings:
    # where things are
    runs_dir: Path = _s(
        "ENGINE_RUNS_DIR", "the runs, the visitors' files, the embedded queue", Path("runs")
    )
    data_dir: Path = _s("ENGINE_DATA_DIR", "the datasets and the rendered glyphs", Path("data"))
    # the task queue and its workers
    queue_url: str = _s(
        "ENGINE_QUEUE_URL",
        "the task queue: sqlite:///FILE, redis://…, "
        "postgresql://… (empty: the embedded SQLite file in the runs folder)",
        "",
    )
    max_jobs: int = _s("ENGINE_MAX_JOBS", "tasks the app's own worker runs at once", 1, least=1)
    local_worker: bool = _s(
        "ENGINE_LOCAL_WORKER", "start a worker beside the app even with a broker", False
    )
    first_start: bool = _s("ENGINE_FIRST_START", "a server with no default model trains one", True)
    nice: int | None = _s(
        "ENGINE_NICE", "the niceness of job processes (set by the app for its worker)", None
    )
    offline: bool = _s("ENGINE_OFFLINE", "never try torchvision's downloads", False)
    cuda_graphs: bool = _s("ENGINE_CUDA_GRAPHS", "CUDA graphs for the forward pass on a GPU", True)
    # hosted mode and its quotas (engine.runs.hosting)
    public: bool = _s("ENGINE_PUBLIC", "hosted mode: visitors own their work, quotas hold", False)
    max_jobs_per_visitor: int = _s(
        "ENGINE_MAX_JOBS_PER_VISITOR", "trainings queued or running at once, per visitor", 1
    )
    max_queue: int = _s("ENGINE_MAX_QUEUE", "trainings queued or running, all visitors", 8)
    max_epoch_examples: int = _s(
        "ENGINE_MAX_EPOCH_EXAMPLES", "epochs × training examples of one training", 300_000
    )
    max_sweep_trials: int = _s("ENGINE_MAX_SWEEP_TRIALS", "trials of one sweep", 12)
    max_sweep_workers: int = _s("ENGINE_MAX_SWEEP_WORKERS", "worker processes of one sweep", 1)
    max_runs_per_visitor: int = _s("ENGINE_MAX_RUNS_PER_VISITOR", "stored runs per visitor", 10)
    max_samples: int = _s("ENGINE_MAX_SAMPLES", "stored Greek samples and queries per visitor", 400)
    max_sample_mb: int = _s("ENGINE_MAX_SAMPLE_MB", "their megabytes per visitor", 20)
    max_storage_mb: int = _s("ENGINE_MAX_STORAGE_MB", "everything under the runs folder", 2048)
    visitor_idle_hours: int = _s(
        "ENGINE_VISITOR_IDLE_HOURS",
        "a visitor unseen this long expires: their samples, then their finished runs",
        24,
    )
    # live video (ui.webcam.camera): STUN/TURN servers
    webrtc_ice_servers: str = _s("WEBRTC_ICE_SERVERS", "RTCIceServer dicts as JSON", "")
    webrtc_stun_urls: str = _s("WEBRTC_STUN_URLS", "STUN URLs, comma-separated", "")
    webrtc_turn_urls: str = _s("WEBRTC_TURN_URLS", "TURN URLs, comma-separated", "")
    webrtc_turn_username: str = _s("WEBRTC_TURN_USERNAME", "the TURN user", "")
    webrtc_turn_credential: str = _s(
        "WEBRTC_TURN_CREDENTIAL", "the TURN password (never shown)", "", secret=True
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings ``env`` (default: this process's environment) gives; unset or empty
        variables keep their defaults."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = (env.get(f.metadata["env"]) or "").strip()
            if raw:
                values[f.name] = _parse(f, raw)
        return cls(**values)


VARIABLES = tuple(f.metadata["env"] for f in fields(Settings))
_FLAGS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def _parse(f, raw: str):
    name, kind = f.metadata["env"], str(f.type)
    if kind == "bool":
        if raw.lower() not in _FLAGS:
            raise SettingsError(f"{name}={raw!r}: use 1 or 0 (true/false, yes/no, on/off)")
        return _FLAGS[raw.lower()]
    if kind == "Path":
        return Path(raw)
    if kind.startswith(("int", "float")):
        try:
            value = (int if kind.startswith("int") else float)(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r}: not a number") from None
        if value < f.metadata["least"]:
            raise SettingsError(f"{name}={raw!r}: at least {f.metadata['least']}")
        return value
    return raw


def current() -> Settings:
    """This process's settings: parsed once per distinct environment (a test that changes a
    variable gets the new value)."""
    return _parsed(tuple(os.environ.get(v) for v in VARIABLES))


@lru_cache(maxsize=8)
def _parsed(values: tuple[str | None, ...]) -> Settings:
    return Settings.from_env({k: v for k, v in zip(VARIABLES, values) if v is not None})


def table() -> list[tuple[str, str, str]]:
    """(variable, meaning, default) for each setting: what docs/hosting.md lists."""
    out = []
    for f in fields(Settings):
        d = f.default
        shown = ("1" if d else "0") if isinstance(d, bool) else ("" if d is None else str(d))
        out.append((f.metadata["env"], f.metadata["doc"], shown))
    return out


BEGIN, END = "<!-- settings: begin (engine.settings.markdown) -->", "<!-- settings: end -->"


def markdown() -> str:
    """The table of every setting, as docs/hosting.md holds it between BEGIN and END."""
    rows = [f"| `{name}` | {doc} | {f'`{d}`' if d else '—'} |" for name, doc, d in table()]
    return "\n".join([BEGIN, "| variable | what it sets | default |", "| --- | --- | --- |",
                      *rows, END])  # fmt: skip
