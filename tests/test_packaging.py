"""An installed CareNav works: the wheel (what a deployment installs, not the editable checkout)
carries every data file it needs, and from another folder, with CARENAV_HOME naming the project
home, it loads the trained model and parses messages with its own NLU components."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, sys
import bot, actions
from pathlib import Path
assert Path(bot.__file__).resolve().parent.parent != Path(sys.argv[1]).resolve(), bot.__file__
from bot.nlp.vocab import entity_vocabularies
from bot.safety.screen import screen
from bot.texts import text
import asyncio
from rasa.core.agent import Agent
agent = Agent.load(sys.argv[2])
out = {"where": bot.__file__, "vocab": sorted(entity_vocabularies()),
       "screen": screen("i cant breathe").outcome, "text": text("utter_action_failed")[:20]}
for message in ("why was i referred to the heart doctor", "my chest hurts and i can't breathe"):
    parsed = asyncio.run(agent.parse_message(message))
    out[message] = parsed["intent"]["name"]
print(json.dumps(out))
"""


def test_the_wheel_installs_and_parses_messages_from_another_folder(tmp_path):
    from bot.modeling import model_path

    model = model_path()
    assert model.exists(), "make test trains the model first"
    wheels, source = tmp_path / "wheels", tmp_path / "source"  # built from a copy: no build/ left in the checkout
    for package in ("bot", "actions"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(source),
                    "-w", str(wheels)], check=True, timeout=300, cwd=tmp_path)
    [wheel] = wheels.glob("carenav-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3.*/site-packages"))
    # the dependencies come from the project's environment (installing Rasa again would take minutes);
    # CareNav itself only from the wheel: that environment's editable finder is not loaded this way
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, timeout=300)
    env = dict(os.environ, CARENAV_HOME=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    result = subprocess.run([str(venv / "bin" / "python"), "-c", PROBE, str(ROOT), str(model)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert str(site) in out["where"]
    assert "specialty" in out["vocab"] and out["screen"] == "emergency" and out["text"].startswith("Sorry")
    assert out["why was i referred to the heart doctor"] == "ask_referral_reason"
    assert out["my chest hurts and i can't breathe"] == "report_emergency"
