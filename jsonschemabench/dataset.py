"""Finding, loading and sampling JSONSchemaBench data.

Two layouts are understood:

* one folder per split, one JSON file per schema (``DIR/Github_easy/o10008.json``), and
* the flat MaskBench layout (``maskbench/data/Github_easy_17.json``), where the split is the
  file name less its trailing ``_<number>``.

Each file is ``{"schema": ..., "tests": [{"data": ..., "valid": bool}, ...]}``; ``tests`` may be
missing (about a quarter of the schemas have none).
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

DATA_ENV = "JSONSCHEMABENCH_DATA"

NO_DATA_MESSAGE = f"""\
No JSONSchemaBench data: pass --data DIR or set {DATA_ENV}=DIR.

DIR is a folder laid out like the MaskBench data of JSONSchemaBench: one JSON file per schema,
{{"schema": ..., "tests": [{{"data": ..., "valid": true|false}}, ...]}}, either in one folder per
split (DIR/Github_easy/o10008.json) or flat (DIR/Github_easy_17.json). To get it:

    git clone --depth 1 https://github.com/guidance-ai/jsonschemabench
    jsonschemabench masks --data jsonschemabench/maskbench/data ...

The schemas alone (no test instances, enough for `generate`) are also on the Hugging Face hub
as the dataset epfl-dlab/JSONSchemaBench. For `suite`, clone
https://github.com/json-schema-org/JSON-Schema-Test-Suite and pass its tests/ folder."""


class DataNotFoundError(FileNotFoundError):
    """No data folder was given, or the one given holds no schema files."""


@dataclass(frozen=True)
class Entry:
    """One unit of work, not yet loaded: a schema file, or one group of a test-suite file.

    Attributes:
        id: stable identifier, ``"<split>/<file stem>"`` (plus ``"#<group>"`` for suite groups).
        split: the split (for the test suite: the keyword file's stem).
        path: the JSON file.
        group: index of the test group in a JSON-Schema-Test-Suite file, else None.
        draft: for suite groups, the draft folder name (``"draft2020-12"``), else None.
    """

    id: str
    split: str
    path: str
    group: Optional[int] = None
    draft: Optional[str] = None


_FLAT_SPLIT = re.compile(r"^(.*?)_\d+$")


def resolve_data_dir(data: Optional[str]) -> Path:
    """The data folder from ``--data`` or the environment.

    Raises:
        DataNotFoundError: neither is set, or the folder does not exist; the message says how
            to get the data.
    """
    chosen = data or os.environ.get(DATA_ENV)
    if not chosen:
        raise DataNotFoundError(NO_DATA_MESSAGE)
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise DataNotFoundError(f"{path} is not a folder.\n\n{NO_DATA_MESSAGE}")
    return path


def find_entries(data_dir: Path, splits: Optional[Sequence[str]] = None) -> List[Entry]:
    """Every schema file under ``data_dir``, sorted by split then id.

    Args:
        data_dir: a folder in either layout (see the module docstring).
        splits: keep only these splits; None keeps all.

    Raises:
        DataNotFoundError: no schema file was found, or a requested split does not exist.
    """
    data_dir = Path(data_dir)
    entries: List[Entry] = []
    for sub in sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(sub.glob("*.json")):
            entries.append(Entry(id=f"{sub.name}/{f.stem}", split=sub.name, path=str(f)))
    for f in sorted(data_dir.glob("*.json")):
        match = _FLAT_SPLIT.match(f.stem)
        split = match.group(1) if match else f.stem
        entries.append(Entry(id=f"{split}/{f.stem}", split=split, path=str(f)))
    if not entries:
        raise DataNotFoundError(f"No schema files (*.json) under {data_dir}.\n\n{NO_DATA_MESSAGE}")
    if splits:
        known = {e.split for e in entries}
        missing = sorted(set(splits) - known)
        if missing:
            raise DataNotFoundError(
                f"No split {', '.join(missing)} under {data_dir}; splits there: {', '.join(sorted(known))}"
            )
        entries = [e for e in entries if e.split in set(splits)]
    entries.sort(key=lambda e: (e.split, e.id))
    return entries


def find_suite_entries(suite_dir: Path, draft: str = "draft2020-12") -> List[Entry]:
    """Every test group of a JSON-Schema-Test-Suite draft folder, one entry per group.

    Args:
        suite_dir: the suite's ``tests/`` folder, its parent (the repository root), or a draft
            folder itself.
        draft: the draft folder to use (``draft4``, ``draft7``, ``draft2020-12``, ...).

    Only the top-level keyword files are used; ``optional/`` is left out, as in the suite's
    own definition of compliance.

    Raises:
        DataNotFoundError: the draft folder is not there.
    """
    suite_dir = Path(suite_dir)
    candidates = [suite_dir / "tests" / draft, suite_dir / draft, suite_dir]
    folder = next((c for c in candidates if c.is_dir() and any(c.glob("*.json"))), None)
    if folder is None:
        raise DataNotFoundError(f"No JSON Schema Test Suite folder for {draft} under {suite_dir}.\n\n{NO_DATA_MESSAGE}")
    entries = []
    for f in sorted(folder.glob("*.json")):
        with open(f, encoding="utf-8") as fh:
            groups = json.load(fh)
        for i in range(len(groups)):
            entries.append(Entry(id=f"{f.stem}#{i}", split=f.stem, path=str(f), group=i, draft=draft))
    return entries


_DRAFT_URIS = {
    "draft3": "http://json-schema.org/draft-03/schema#",
    "draft4": "http://json-schema.org/draft-04/schema#",
    "draft6": "http://json-schema.org/draft-06/schema#",
    "draft7": "http://json-schema.org/draft-07/schema#",
    "draft2019-09": "https://json-schema.org/draft/2019-09/schema",
    "draft2020-12": "https://json-schema.org/draft/2020-12/schema",
}


def load_item(entry: Entry) -> Dict[str, Any]:
    """The work item of ``entry``: ``{"id", "split", "schema", "tests"}``.

    For a suite group, ``"$schema"`` is added to an object schema that lacks it, so that every
    engine reads the schema under the draft the group was written for.
    """
    with open(entry.path, encoding="utf-8") as fh:
        doc = json.load(fh)
    if entry.group is not None:
        group = doc[entry.group]
        schema = group["schema"]
        if isinstance(schema, dict) and "$schema" not in schema and entry.draft in _DRAFT_URIS:
            schema = {"$schema": _DRAFT_URIS[entry.draft], **schema}
        return {
            "id": entry.id,
            "split": entry.split,
            "description": group.get("description", ""),
            "schema": schema,
            "tests": [{"data": t["data"], "valid": bool(t["valid"])} for t in group["tests"]],
        }
    return {
        "id": entry.id,
        "split": entry.split,
        "schema": doc["schema"],
        "tests": [{"data": t["data"], "valid": bool(t["valid"])} for t in doc.get("tests", [])],
    }


def _quotas(sizes: Dict[str, int], n: int) -> Dict[str, int]:
    """Split ``n`` over the strata in proportion to ``sizes`` (largest remainder).

    When ``n`` is at least the number of non-empty strata each gets at least one, so that
    small splits are represented in small samples; the strata whose quota exceeds their share
    most pay for it.
    """
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    names = sorted(s for s, size in sizes.items() if size > 0)
    shares = {s: n * sizes[s] / total for s in names}
    quota = {s: 0 for s in sizes}
    for s in names:
        quota[s] = int(shares[s])
        if n >= len(names):
            quota[s] = max(1, quota[s])
    left = n - sum(quota.values())
    while left > 0:
        open_ = [s for s in names if quota[s] < sizes[s]]
        best = min(open_, key=lambda s: (quota[s] - shares[s], -sizes[s], s))
        quota[best] += 1
        left -= 1
    while left < 0:
        over = [s for s in names if quota[s] > 1]
        best = min(over, key=lambda s: (shares[s] - quota[s], sizes[s], s))
        quota[best] -= 1
        left += 1
    return quota


def sample_entries(entries: Sequence[Entry], n: Optional[int], seed: int = 0) -> List[Entry]:
    """A deterministic sample of ``n`` entries, stratified by split.

    Each split gets a share proportional to its size (at least one each when ``n`` allows);
    within a split the entries are drawn with a generator seeded by ``(seed, split)``, so a
    split's draw does not depend on which other splits are present. The result is sorted by
    split then id. ``n=None`` (or ``n`` at least ``len(entries)``) returns every entry.
    """
    if n is None or n >= len(entries):
        return sorted(entries, key=lambda e: (e.split, e.id))
    if n < 0:
        raise ValueError(f"--sample must be positive, got {n}")
    by_split: Dict[str, List[Entry]] = {}
    for e in entries:
        by_split.setdefault(e.split, []).append(e)
    quota = _quotas({s: len(v) for s, v in by_split.items()}, n)
    chosen: List[Entry] = []
    for split in sorted(by_split):
        pool = sorted(by_split[split], key=lambda e: e.id)
        rng = random.Random(f"{seed}:{split}")
        chosen.extend(rng.sample(pool, quota[split]))
    chosen.sort(key=lambda e: (e.split, e.id))
    return chosen
