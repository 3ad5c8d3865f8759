"""Train the Rasa model only when what it is built from changed (cache by content hash)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Optional

from bot.settings import home

PROJECT_ROOT = home()  # CARENAV_HOME, else the checkout (bot.settings.home)
MODELS_DIR = PROJECT_ROOT / "models"

# Everything that changes what the trained model does. Custom NLU components and the
# vocabularies they load count too.
TRAINING_INPUTS = ("config.yml", "domain.yml", "data", "bot/nlp", "bot/knowledge/vocab")


def _files(root: Path, inputs: Iterable[str]) -> list[Path]:
    found: list[Path] = []
    for name in inputs:
        path = root / name
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return sorted(found)


def training_fingerprint(root: Path = PROJECT_ROOT, config: str = "config.yml") -> str:
    """A short content hash of the training inputs (file names and bytes)."""
    digest = hashlib.sha256()
    inputs = [config] + [i for i in TRAINING_INPUTS if i != "config.yml"]
    for path in _files(root, inputs):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def model_path(root: Path = PROJECT_ROOT, config: str = "config.yml") -> Path:
    stem = Path(config).stem
    prefix = "carenav" if stem == "config" else f"carenav-{stem}"
    return root / "models" / f"{prefix}-{training_fingerprint(root, config)}.tar.gz"


def rasa_executable() -> str:
    candidate = Path(sys.executable).with_name("rasa")
    return str(candidate) if candidate.exists() else "rasa"


def train_if_stale(root: Path = PROJECT_ROOT, config: str = "config.yml",
                   data: Optional[list[str]] = None, force: bool = False) -> Path:
    """Return the model for the current inputs, training it first if it does not exist."""
    target = model_path(root, config)
    if target.exists() and not force:
        print(f"model is up to date: {target.relative_to(root)}", flush=True)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    cmd = [rasa_executable(), "train", "--config", config, "--domain", "domain.yml",
           "--data", *(data or ["data"]), "--out", str(target.parent),
           "--fixed-model-name", target.name[: -len(".tar.gz")]]
    print(f"training the model ({' '.join(cmd[1:])}) ...", flush=True)
    started = time.monotonic()
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false")
    result = subprocess.run(cmd, cwd=root, env=env)
    if result.returncode != 0 or not target.exists():
        raise SystemExit(f"training failed (exit {result.returncode}); see the output above")
    print(f"trained {target.relative_to(root)} in {time.monotonic() - started:.0f} s", flush=True)
    return target
