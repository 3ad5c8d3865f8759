"""What the load benchmarks share: CareNav (Rasa + action server) on a freshly seeded demo store,
tokens for the demo patients signed with the benchmark's own secret, and the percentile they report."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

SECRET = "carenav-bench-secret-0123456789abcdef0123456789abcdef0123"
PATIENTS = ["demo-maria", "demo-james", "demo-linda", "demo-robert", "demo-aisha", "demo-tom"]


def percentile_ms(seconds: Sequence[float], p: float, empty: float = float("nan")) -> float:
    """The p-th percentile (nearest rank) of latencies given in seconds, in milliseconds."""
    if not seconds:
        return empty
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


def seeded_carenav(port: int, prefix: str, ttl_seconds: int = 3600) -> Optional[Tuple[object, List[str], Path]]:
    """(an Assistant not yet started, one token per demo patient, the work folder), or None when
    there is no trained model for the current data."""
    import sys

    os.environ["CARENAV_TOKEN_SECRET"] = SECRET
    from bot.identity import issue_token
    from bot.modeling import model_path
    from bot.runner import Assistant, Ports
    from bot.store.db import Database
    from bot.store.seed import seed_demo

    model = model_path()
    if not model.exists():
        print(f"no trained model {model.name}: run `make model` first", file=sys.stderr)
        return None
    work = Path(tempfile.mkdtemp(prefix=prefix))
    db_url = f"sqlite:///{work / 'store.db'}"
    db = Database(db_url)
    db.create_schema()
    seed_demo(db)
    db.dispose()
    tokens = [issue_token(p, ttl_seconds=ttl_seconds) for p in PATIENTS]
    assistant = Assistant(model=model, ports=Ports(rasa=port, actions=port + 50, web=port + 3000),
                          log_dir=work, env={"CARENAV_DB_URL": db_url, "CARENAV_TOKEN_SECRET": SECRET})
    return assistant, tokens, work
