"""The `carenav` command as a clinic's admin would run it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def carenav(*args: str, db_url: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, CARENAV_DB_URL=db_url)
    result = subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"carenav {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result


def test_init_seed_and_list_patients(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    carenav("db", "init", db_url=url)
    carenav("db", "seed", db_url=url)
    lines = carenav("patients", db_url=url).stdout.strip().splitlines()
    assert len(lines) >= 6
    for line in lines:
        patient_id, name = line.split("\t")
        assert patient_id and name and " " in name  # id, a tab, the display name
    # a second seed loads nothing twice
    carenav("db", "seed", db_url=url)
    assert carenav("patients", db_url=url).stdout.strip().splitlines() == lines


def test_seed_if_empty_leaves_an_existing_store_alone(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    carenav("db", "seed", db_url=url)
    out = carenav("db", "seed", "--if-empty", db_url=url).stdout
    assert "already has patients" in out


def test_patients_lists_nothing_but_ids_and_names(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    carenav("db", "seed", db_url=url)
    out = carenav("patients", db_url=url).stdout
    assert "+1" not in out and "19" not in out.replace("\t", " ").split(" ")[0]  # no phones, no birth dates
    for line in out.strip().splitlines():
        assert len(line.split("\t")) == 2


@pytest.mark.parametrize("bad_url, reason", [
    ("this is not a url", "not a valid SQLAlchemy URL"),
    ("postgresql+psycopg2://nobody@127.0.0.1:1/nothing", "cannot reach the care-plan store"),
    ("nosuchdb://x/y", "cannot use database URL"),
])
def test_bad_db_url_exits_non_zero_with_a_reason(bad_url, reason):
    result = carenav("patients", db_url=bad_url, check=False)
    assert result.returncode != 0
    assert reason in result.stderr
    assert "Traceback" not in result.stderr
    assert "CARENAV_DB_URL" in result.stderr


def test_bad_db_url_hides_the_password():
    result = carenav("db", "init", db_url="postgresql+psycopg2://u:s3cret@127.0.0.1:1/x", check=False)
    assert result.returncode != 0
    assert "s3cret" not in result.stderr


def test_audit_lists_disclosures_with_ids_only(tmp_path):
    from bot.store.db import Database
    from bot.store.queries import CareStore

    url = f"sqlite:///{tmp_path / 'store.db'}"
    carenav("db", "seed", db_url=url)
    store = CareStore(Database(url))
    store.record_disclosure("demo-maria", "test result", "released results", conversation_id="conv-42", channel="rest")
    store.record_disclosure("demo-james", "referral", "reason", conversation_id="conv-7", channel="sms")
    out = carenav("audit", "demo-maria", db_url=url).stdout.strip().splitlines()
    assert out[0] == "time\tconversation\tchannel\trecord kind\taction\tstaff"
    assert len(out) == 2 and out[1].split("\t")[1:] == ["conv-42", "rest", "test result", "released results", "-"]
    assert "Maria" not in "\n".join(out) and "conv-7" not in "\n".join(out)
    missing = carenav("audit", "nobody", db_url=url, check=False)
    assert missing.returncode == 1 and "no patient" in missing.stderr
