"""The dialogue test stories staff write (tests/stories/), checked the way Rasa users check them.

- `rasa data validate --fail-on-warnings` on the training data and domain;
- every response an action names exists in domain.yml (Rasa cannot see those: an action that
  names a missing response says nothing to the patient);
- `rasa test --fail-on-prediction-errors` on the stories, against the trained model;
- the staff report (`make test-stories`) names a failed story, its turn, expected and predicted,
  and writes results/report.html with the pictures.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
STORIES = ROOT / "tests" / "stories"
ENV = dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")


def _rasa() -> str:
    from bot.modeling import rasa_executable

    return rasa_executable()


@pytest.fixture(scope="module")
def model() -> Path:
    from bot.modeling import model_path

    path = model_path()
    if not path.exists():
        pytest.fail(f"no trained model {path.name}: run `make model` (make test does) first")
    return path


def _stories():
    for path in sorted(STORIES.glob("test_*.yml")):
        for story in yaml.safe_load(path.read_text())["stories"]:
            yield path.name, story


def test_the_stories_cover_every_intent_the_fallback_and_the_hard_cases():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    intents_in_stories, actions_in_stories, names = set(), set(), []
    for _, story in _stories():
        names.append(story["story"])
        for step in story["steps"]:
            if "intent" in step:
                intents_in_stories.add(step["intent"])
            if "action" in step:
                actions_in_stories.add(step["action"])
    assert set(domain["intents"]) - intents_in_stories == set()
    assert "nlu_fallback" in intents_in_stories and "action_two_stage_fallback" in actions_in_stories
    assert "action_request_human" in actions_in_stories
    assert any("emergency" in n or "chest pain in the middle" in n for n in names)
    assert any("several referrals" in n for n in names)


def test_rasa_data_validate_passes_with_fail_on_warnings():
    result = subprocess.run([_rasa(), "data", "validate", "--fail-on-warnings", "--data", "data",
                             "--domain", "domain.yml", "--config", "config.yml"],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_every_response_an_action_names_is_in_the_domain():
    responses = set(yaml.safe_load((ROOT / "domain.yml").read_text())["responses"])
    named = set()
    for folder in ("actions", "bot"):
        for path in (ROOT / folder).rglob("*.py"):
            named |= set(re.findall(r"""["'](utter_[a-z0-9_]+)["']""", path.read_text()))
    assert named, "found no response names in the code"
    assert named - responses - {"utter_action"} == set()  # utter_action: Rasa's key naming a message's response


def test_rasa_test_passes_every_story_with_fail_on_prediction_errors(model, tmp_path):
    result = subprocess.run([_rasa(), "test", "core", "--model", str(model), "--stories", str(STORIES),
                             "--out", str(tmp_path), "--fail-on-prediction-errors"],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "None of the test stories failed" in (tmp_path / "failed_test_stories.yml").read_text()


BROKEN_STORY = """version: "3.1"
stories:
  - story: a staff member expects the wrong answer
    steps:
      - user: |
          hello
        intent: greet
      - action: utter_greet
      - user: |
          what are my next steps
        intent: ask_next_steps
      - action: action_medications
"""


def test_the_staff_report_names_the_failed_story_turn_and_both_actions(model, tmp_path):
    stories = tmp_path / "stories"
    stories.mkdir()
    (stories / "test_mine.yml").write_text(BROKEN_STORY)
    (stories / "test_smalltalk.yml").write_text((STORIES / "test_smalltalk.yml").read_text())
    out = tmp_path / "results"
    result = subprocess.run([sys.executable, "-m", "bot.story_tests", "--model", str(model),
                             "--stories", str(stories), "--out", str(out)],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    fail = lines.index("FAIL  a staff member expects the wrong answer  (test_mine.yml)")
    assert lines[fail + 1].strip() == ('turn 2, after "what are my next steps": '
                                       'expected action_medications, got action_next_steps')
    assert "PASS  hello, help, thanks, goodbye  (test_smalltalk.yml)" in lines
    assert "4 of 5 stories passed. 1 failed." in lines
    report = (out / "report.html").read_text()
    assert report.count('src="data:image/png;base64,') == 3  # story map, intent and action matrices
    assert "1 of 5 stories failed" in report and "a staff member expects the wrong answer" in report
    assert "expected action_medications" in (out / "failed_test_stories.yml").read_text() or \
        "predicted: action_next_steps" in (out / "failed_test_stories.yml").read_text()
