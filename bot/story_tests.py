"""Run the dialogue test stories and say plainly what passed and what did not.

`make test-stories` runs this for clinic staff: every story in tests/stories/ is played against
the trained model (what the patient types goes through the NLU, each next step through the
dialogue policies), and the result is printed as

    PASS  hello, help, thanks, goodbye                        (test_smalltalk.yml)
    FAIL  chest pain in the middle of asking ...              (test_safety.yml)
          turn 2, after "wait i'm having chest pain": expected utter_emergency_911, got action_next_steps

and written to results/report.html with pictures: each story as a row of green (right) and red
(wrong) steps, the intent confusion matrix of what patients typed in the stories, and the action
confusion matrix. Rasa's own failed_test_stories.yml is written beside it. Exit code 0 when every
story passed, 1 when one failed, 2 when the stories or the model cannot be read.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import html
import io
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from bot.modeling import PROJECT_ROOT, model_path

DEFAULT_STORIES = PROJECT_ROOT / "tests" / "stories"
DEFAULT_OUT = PROJECT_ROOT / "results"
SKIPPED_ACTIONS = {"action_listen", "action_session_start"}


@dataclass
class Step:
    """One checked step of a story: what the patient meant, or what CareNav did next."""

    kind: str  # "intent" or "action"
    expected: str
    predicted: str
    turn: int  # the patient's message number this step belongs to (1 = first message)
    said: str = ""  # what the patient typed (empty for a button press written as an intent)

    @property
    def ok(self) -> bool:
        return self.expected == self.predicted


@dataclass
class StoryResult:
    name: str
    source: str
    steps: List[Step] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def problems(self) -> List[Step]:
        return [s for s in self.steps if not s.ok]


def story_sources(stories: Path) -> Dict[str, str]:
    """story name -> the file it is written in (for telling staff where to look)."""
    import yaml

    files = [stories] if stories.is_file() else sorted(stories.rglob("*.yml")) + sorted(stories.rglob("*.yaml"))
    sources: Dict[str, str] = {}
    for path in files:
        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {exc}") from exc
        for story in content.get("stories") or []:
            if isinstance(story, dict) and story.get("story"):
                sources[str(story["story"])] = path.name
    return sources


def steps_of(tracker) -> List[Step]:
    """The checked steps of an evaluated story tracker, in order."""
    from rasa.core.test import WronglyClassifiedUserUtterance, WronglyPredictedAction
    from rasa.shared.core.events import ActionExecuted, UserUttered

    steps: List[Step] = []
    turn, said = 0, ""
    for event in tracker.events:
        if isinstance(event, WronglyClassifiedUserUtterance):
            turn, said = turn + 1, event.text or ""
            steps.append(Step("intent", event.intent.get("name") or "", event.predicted_intent or "?", turn, said))
        elif isinstance(event, UserUttered):
            turn, said = turn + 1, event.text or ""
            name = event.intent_name or ""
            steps.append(Step("intent", name, name, turn, said))
        elif isinstance(event, WronglyPredictedAction):
            steps.append(Step("action", event.action_name or "", event.action_name_prediction or "?", turn, said))
        elif isinstance(event, ActionExecuted) and event.action_name not in SKIPPED_ACTIONS:
            name = event.action_name or event.action_text or ""
            steps.append(Step("action", name, name, turn, said))
    return steps


async def evaluate(model: Path, stories: Path) -> Tuple[List[StoryResult], object, list]:
    """Play every story against the model; returns the results, Rasa's evaluation and failed trackers."""
    from rasa.core.agent import Agent
    from rasa.core.test import _collect_story_predictions, _create_data_generator

    sources = story_sources(stories)
    agent = Agent.load(str(model))
    generator = _create_data_generator(str(stories), agent, None, False)
    trackers = generator.generate_story_trackers()
    evaluation, _, _ = await _collect_story_predictions(trackers, agent, False, use_e2e=True)
    results = []
    for tracker in evaluation.failed_stories + evaluation.successful_stories:
        name = tracker.sender_id
        source = sources.get(name) or sources.get(name.split(" > ")[-1], "?")
        results.append(StoryResult(name, source, steps_of(tracker)))
    results.sort(key=lambda r: (r.passed, r.source, r.name))
    return results, evaluation, evaluation.failed_stories


def _plain(action: str) -> str:
    return "wait for the patient's next message" if action == "action_listen" else action


def describe(result: StoryResult) -> List[str]:
    """Plain lines for one story: PASS/FAIL, and for each wrong step where and what."""
    lines = [f"{'PASS' if result.passed else 'FAIL'}  {result.name}  ({result.source})"]
    for step in result.problems:
        where = f"turn {step.turn}" + (f', after "{step.said.strip()}"' if step.said.strip() else "")
        if step.kind == "intent":
            lines.append(f"      {where}: understood as {step.predicted}, expected {step.expected}")
        else:
            lines.append(f"      {where}: expected {_plain(step.expected)}, got {_plain(step.predicted)}")
    return lines


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", dpi=110)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def story_map_png(results: Sequence[StoryResult]) -> str:
    """Each story as a row of squares, green for a right step, red for a wrong one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = max((len(r.steps) for r in results), default=1)
    fig, ax = plt.subplots(figsize=(min(2 + 0.45 * width + 3.5, 18), 0.45 * len(results) + 1))
    for row, result in enumerate(results):
        for col, step in enumerate(result.steps):
            color = "#2e7d32" if step.ok else "#c62828"
            ax.add_patch(plt.Rectangle((col, row), 0.9, 0.8, color=color))
            ax.text(col + 0.45, row + 0.45, "U" if step.kind == "intent" else "A", ha="center", va="center",
                    color="white", fontsize=7)
    ax.set_xlim(0, width)
    ax.set_ylim(len(results), -0.2)
    ax.set_yticks([i + 0.4 for i in range(len(results))])
    ax.set_yticklabels([("✓ " if r.passed else "✗ ") + r.name[:60] for r in results], fontsize=8)
    ax.set_xticks([])
    ax.set_title("Stories: each square is a step (U = what the patient meant, A = what CareNav did); red = wrong")
    for spine in ax.spines.values():
        spine.set_visible(False)
    png = _png(fig)
    plt.close(fig)
    return png


def confusion_png(targets: Sequence[str], predictions: Sequence[str], title: str) -> Optional[str]:
    if not targets:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rasa.utils.plotting import plot_confusion_matrix
    from sklearn.metrics import confusion_matrix
    from sklearn.utils.multiclass import unique_labels

    labels = unique_labels(list(targets), list(predictions))
    matrix = confusion_matrix(list(targets), list(predictions), labels=labels)
    plt.close("all")
    plot_confusion_matrix(matrix, classes=labels, title=title)
    fig = plt.gcf()
    fig.set_size_inches(max(6, 0.45 * len(labels) + 3), max(5, 0.45 * len(labels) + 2))
    png = _png(fig)
    plt.close("all")
    return png


def write_report(path: Path, results: Sequence[StoryResult], evaluation, model: Path, stories: Path) -> None:
    store = evaluation.evaluation_store
    failed = [r for r in results if not r.passed]
    pictures = [("What each story did", story_map_png(results)),
                ("What patients meant: the intent confusion matrix (rows: expected, columns: understood)",
                 confusion_png(store.intent_targets, store.intent_predictions, "Intent confusion matrix")),
                ("What CareNav did next: the action confusion matrix",
                 confusion_png(store.action_targets, store.action_predictions, "Action confusion matrix"))]
    rows = []
    for r in results:
        detail = "<br>".join(html.escape(line.strip()) for line in describe(r)[1:]) or "all steps right"
        rows.append(f"<tr class=\"{'pass' if r.passed else 'fail'}\"><td>{'PASS' if r.passed else 'FAIL'}</td>"
                    f"<td>{html.escape(r.name)}</td><td>{html.escape(r.source)}</td><td>{detail}</td></tr>")
    images = "\n".join(f"<h2>{html.escape(title)}</h2>\n<img alt=\"{html.escape(title)}\" "
                       f"src=\"data:image/png;base64,{png}\">" for title, png in pictures if png)
    verdict = ("All stories passed." if not failed else
               f"{len(failed)} of {len(results)} stories failed: see the red rows and squares.")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CareNav story test report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1a1a1a; max-width: 1200px; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #bbb; padding: .4rem; text-align: left; vertical-align: top; }}
tr.fail td:first-child {{ background: #c62828; color: #fff; font-weight: bold; }}
tr.pass td:first-child {{ background: #2e7d32; color: #fff; }}
.verdict {{ font-size: 1.3rem; font-weight: bold; }} img {{ max-width: 100%; border: 1px solid #ddd; }}
</style></head><body>
<h1>CareNav story test report</h1>
<p class="verdict">{html.escape(verdict)}</p>
<p>Model <code>{html.escape(model.name)}</code>, stories from <code>{html.escape(str(stories))}</code>,
run {dt.datetime.now():%Y-%m-%d %H:%M}.</p>
<table><tr><th>Result</th><th>Story</th><th>File</th><th>What went wrong</th></tr>
{''.join(rows)}
</table>
{images}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")


def run(model: Path, stories: Path, out: Path) -> int:
    from rasa.core.test import _log_stories

    if not model.exists():
        print(f"no trained model {model}: run `make model` first", file=sys.stderr)
        return 2
    if not stories.exists():
        print(f"no stories at {stories}", file=sys.stderr)
        return 2
    try:
        results, evaluation, failed_trackers = asyncio.run(evaluate(model, stories))
    except ValueError as exc:
        print(f"cannot read the stories: {exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.html"
    write_report(report, results, evaluation, model, stories)
    _log_stories(failed_trackers, str(out / "failed_test_stories.yml"), "None of the test stories failed - all good!")
    print()
    for result in results:
        print("\n".join(describe(result)))
    failed = [r for r in results if not r.passed]
    print()
    print(f"{len(results) - len(failed)} of {len(results)} stories passed."
          + (f" {len(failed)} failed." if failed else ""))
    print(f"Report with pictures: {report}")
    if failed:
        print(f"The failed stories, as Rasa writes them: {out / 'failed_test_stories.yml'}")
    return 1 if failed else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.story_tests", description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=Path, default=DEFAULT_STORIES, help="a story file or folder")
    parser.add_argument("--model", type=Path, default=None, help="default: the model for the current data")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where report.html goes")
    args = parser.parse_args(argv)
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    import warnings

    warnings.showwarning = lambda *args, **kwargs: None  # staff read the result, not library warnings
    logging.basicConfig(level=logging.ERROR)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.ERROR)  # Rasa's structured debug lines would bury the result
    for noisy in ("rasa", "tensorflow", "absl", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    return run(args.model or model_path(), args.stories, args.out)


if __name__ == "__main__":
    sys.exit(main())
