"""The inventory's `models:` section: loaded by natural keys, dumped back the same, and every bad
entry refused naming the model, the version and the field, with nothing stored."""

from textwrap import dedent

import pytest

from assessments.models import AiSystem, AiSystemVersion, VersionProject
from assessments.organisation.inventory import InventoryError, inventory_dump, inventory_load

pytestmark = pytest.mark.django_db

BASE = """
teams:
  - {name: NLP, slug: nlp}
  - {name: Vision, slug: vision}
projects:
  - {slug: llm-finetune, name: LLM fine-tuning, team: NLP, phase: training}
  - {slug: chat-inference, name: Chat, team: NLP, phase: inference, work_kind: requests}
  - {slug: vision-serve, name: Vision serving, team: Vision, phase: inference}
"""

MODELS = """
models:
  - slug: assistant
    name: Chat assistant
    team: nlp
    versions:
      - version: "1.0"
        model_name: assistant
        served_by: [{project: chat-inference, start: 2026-09-01, end: 2026-10-21}]
      - version: "2.0"
        parent: "1.0"
        relation: distilled
        model_name: assistant-2
        produced_by: [{project: llm-finetune, start: 2026-10-01, end: 2026-10-20}]
        served_by: [{project: chat-inference, start: 2026-10-21, end: null}]
        planned_requests: 50000000
        quality_metric: MMLU
        quality_value: 0.71
        latency_p50_ms: 120
"""


def load(text, **kwargs):
    return inventory_load(text=dedent(text), **kwargs)


def test_the_design_example_loads_and_loading_twice_changes_nothing():
    first = load(BASE + MODELS)
    assert first.counts["models"]["created"] == 1
    second = AiSystemVersion.objects.get(version="2.0")
    assert second.parent.version == "1.0" and second.relation == "distilled"
    assert second.planned_requests == 50_000_000 and second.latency_p50_ms == 120
    assert sorted(second.windows.values_list("role", "project__slug")) == [
        ("produced_by", "llm-finetune"),
        ("served_by", "chat-inference"),
    ]
    again = load(BASE + MODELS)
    assert again.counts["models"]["unchanged"] == 1 and not again.changed
    assert VersionProject.objects.count() == 3


def test_dump_then_load_changes_nothing_and_dumps_the_same_text():
    load(BASE + MODELS)
    dumped = inventory_dump()
    assert "models:" in dumped and "relation: distilled" in dumped
    result = inventory_load(text=dumped, file_name="dump.yaml")
    assert not result.changed
    assert inventory_dump() == dumped


@pytest.mark.parametrize(
    "versions, expected",
    [
        (
            """
      - version: "3.0"
        served_by: [{project: chat-inference, start: 2026-11-01}]
""",
            "version assistant 2.0",
        ),
        ("      - {version: 2.0}\n", "quote it"),
        ('      - {version: "3.0", relation: merged}\n', "relation: must be one of"),
        (
            '      - {version: "3.0", served_by: [{project: chat-inference, start: 2026-11-02, '
            "end: 2026-11-01}]}\n",
            "end: must be after start",
        ),
        ('      - {version: "3.0", parent: "9.9", relation: pruned}\n', 'no version "9.9"'),
        (
            '      - {version: "3.0", served_by: [{project: vision-serve, start: 2026-12-01}]}\n',
            "not team nlp's",
        ),
        ('      - {version: "3.0", latency_p95: 3}\n', 'did you mean "latency_p95_ms"'),
    ],
)
def test_a_bad_version_is_an_error_naming_the_entry_and_field(versions, expected):
    with pytest.raises(InventoryError) as refused:
        load(BASE + MODELS + versions)
    text = str(refused.value)
    assert "models[0].versions" in text and expected in text, text
    assert not AiSystem.objects.exists() and not VersionProject.objects.exists()


def test_the_overlap_error_names_both_versions():
    extra = """
      - version: "3.0"
        served_by: [{project: chat-inference, start: 2026-11-01}]
"""
    with pytest.raises(InventoryError) as refused:
        load(BASE + MODELS + extra)
    assert "assistant 3.0" in str(refused.value) and "assistant 2.0" in str(refused.value)
