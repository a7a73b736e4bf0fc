"""Data discovery, loading and stratified sampling of jsonschemabench (fixtures only)."""

import json
from collections import Counter
from pathlib import Path

import pytest

from jsonschemabench.dataset import (
    DATA_ENV,
    DataNotFoundError,
    Entry,
    _quotas,
    find_entries,
    find_suite_entries,
    load_item,
    resolve_data_dir,
    sample_entries,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "jsonschemabench"
MASKBENCH = DATA / "maskbench"
SUITE = DATA / "suite"


def test_find_entries_split_folders():
    entries = find_entries(MASKBENCH)
    assert Counter(e.split for e in entries) == {"Github_easy": 4, "Glaiveai2K": 4, "Kubernetes": 4}
    assert entries == sorted(entries, key=lambda e: (e.split, e.id))
    assert "Github_easy/o10008" in {e.id for e in entries}


def test_find_entries_flat_layout(tmp_path):
    for name in ("Github_easy_0", "Github_easy_12", "Kubernetes_3", "JsonSchemaStore_1"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"schema": {}, "tests": []}))
    entries = find_entries(tmp_path)
    assert Counter(e.split for e in entries) == {"Github_easy": 2, "Kubernetes": 1, "JsonSchemaStore": 1}
    assert {e.id for e in entries} >= {"Github_easy/Github_easy_12", "Kubernetes/Kubernetes_3"}


@pytest.mark.parametrize(
    "splits, expected",
    [(["Kubernetes"], {"Kubernetes": 4}), (["Github_easy", "Glaiveai2K"], {"Github_easy": 4, "Glaiveai2K": 4})],
)
def test_find_entries_filters_splits(splits, expected):
    assert Counter(e.split for e in find_entries(MASKBENCH, splits)) == expected


def test_unknown_split_is_an_error():
    with pytest.raises(DataNotFoundError, match="No split Nope"):
        find_entries(MASKBENCH, ["Nope"])


def test_no_data_message_says_how_to_get_it(monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    with pytest.raises(DataNotFoundError) as info:
        resolve_data_dir(None)
    text = str(info.value)
    assert "--data" in text and DATA_ENV in text and "guidance-ai/jsonschemabench" in text


def test_data_dir_from_environment(monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(MASKBENCH))
    assert resolve_data_dir(None) == MASKBENCH


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(DataNotFoundError, match="No schema files"):
        find_entries(tmp_path)


def test_load_item_keeps_tests_and_handles_none():
    entries = {e.id: e for e in find_entries(MASKBENCH)}
    item = load_item(entries["Github_easy/o10008"])
    assert item["split"] == "Github_easy"
    assert [t["valid"] for t in item["tests"]] == [True, False, False]
    assert load_item(entries["Glaiveai2K/calculate_area_dfef43db"])["tests"] == []


def test_suite_entries_one_per_group_with_draft():
    entries = find_suite_entries(SUITE, "draft2020-12")
    assert Counter(e.split for e in entries) == {"type": 3, "enum": 2, "required": 2, "maxItems": 1}
    item = load_item(next(e for e in entries if e.id == "type#0"))
    assert item["schema"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert item["schema"]["type"] == "integer"
    assert any(not t["valid"] for t in item["tests"])
    with pytest.raises(DataNotFoundError):
        find_suite_entries(SUITE, "draft3")


@pytest.mark.parametrize(
    "sizes, n, expected",
    [
        ({"a": 10, "b": 10}, 4, {"a": 2, "b": 2}),
        ({"a": 90, "b": 9, "c": 1}, 10, {"a": 8, "b": 1, "c": 1}),
        ({"a": 5, "b": 5}, 1, {"a": 1, "b": 0}),
        ({"a": 3, "b": 1}, 10, {"a": 3, "b": 1}),
        ({"a": 2, "b": 50}, 6, {"a": 1, "b": 5}),
        ({"a": 1, "b": 1, "c": 8}, 5, {"a": 1, "b": 1, "c": 3}),
    ],
)
def test_quotas(sizes, n, expected):
    assert _quotas(sizes, n) == expected
    assert sum(_quotas(sizes, n).values()) == min(n, sum(sizes.values()))


def _synthetic(sizes):
    return [Entry(id=f"{s}/{i:04d}", split=s, path="") for s, k in sizes.items() for i in range(k)]


def test_sample_is_deterministic_and_stratified():
    entries = _synthetic({"big": 300, "mid": 60, "small": 5})
    a = sample_entries(entries, 37, seed=3)
    assert a == sample_entries(list(reversed(entries)), 37, seed=3)
    assert len(a) == 37 and len(set(a)) == 37
    per = Counter(e.split for e in a)
    assert per["small"] >= 1 and per["big"] > per["mid"] > 0
    assert abs(per["big"] - 37 * 300 / 365) <= 2
    assert sample_entries(entries, 37, seed=4) != a


def test_split_draw_does_not_depend_on_other_splits():
    both = sample_entries(_synthetic({"x": 100, "y": 100}), 20, seed=0)
    alone = sample_entries(_synthetic({"x": 100}), 10, seed=0)
    assert [e for e in both if e.split == "x"] == alone


def test_sample_all_and_fixture_sample():
    entries = find_entries(MASKBENCH)
    assert sample_entries(entries, None) == entries
    assert sample_entries(entries, 100) == entries
    picked = sample_entries(entries, 6, seed=0)
    assert Counter(e.split for e in picked) == {"Github_easy": 2, "Glaiveai2K": 2, "Kubernetes": 2}
