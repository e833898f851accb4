"""The checks of AI systems' writes: windows, parents, teams, and two versions on one project."""

import pytest

from assessments.ai_systems.services import AiSystemError, version_save
from assessments.models import AiSystemVersion, VersionProject
from tests.assessments.ai_systems.factories import system, version, window

pytestmark = pytest.mark.django_db


def test_a_version_is_stored_with_its_windows():
    owner = system()
    first = version(
        owner,
        "1.0",
        produced_by=[window("llm-train", "2026-09-01", "2026-09-11", phase="training")],
        served_by=[window("chat", "2026-09-12")],
        planned_requests=1000,
    )
    roles = sorted(first.windows.values_list("role", "project__slug", "end"))
    assert roles == [
        ("produced_by", "llm-train", first.windows.get(role="produced_by").end),
        ("served_by", "chat", None),
    ]


def test_an_overlapping_second_version_without_its_own_model_name_is_refused():
    owner = system()
    version(owner, "1.0", served_by=[window("chat", "2026-10-01")], model_name="assistant")
    first = AiSystemVersion.objects.get(version="1.0")
    with pytest.raises(AiSystemError) as refused:
        version(
            owner,
            "2.0",
            parent=first,
            relation="distilled",
            served_by=[window("chat", "2026-11-01", "2026-12-01")],
        )
    assert "assistant 2.0" in str(refused.value) and "assistant 1.0" in str(refused.value)
    assert refused.value.field == "served_by"
    assert not AiSystemVersion.objects.filter(version="2.0").exists()
    assert VersionProject.objects.count() == 1  # nothing half-stored


def test_the_same_model_name_on_one_project_at_once_is_refused():
    owner = system()
    version(owner, "1.0", served_by=[window("chat", "2026-10-01")], model_name="assistant")
    with pytest.raises(AiSystemError, match="both name the model_name 'assistant'"):
        version(owner, "1.1", served_by=[window("chat", "2026-10-05")], model_name="assistant")


def test_distinct_model_names_or_separate_times_may_share_a_project():
    owner = system()
    version(owner, "1.0", served_by=[window("chat", "2026-10-01", "2026-11-01")])
    version(owner, "2.0", served_by=[window("chat", "2026-11-01")], model_name="assistant-2")
    version(owner, "3.0", served_by=[window("chat", "2026-11-15")], model_name="assistant-3")
    assert AiSystemVersion.objects.count() == 3


def test_a_window_must_end_after_it_starts_and_producing_windows_end():
    owner = system()
    with pytest.raises(AiSystemError, match="must end after it starts"):
        version(owner, "1.0", served_by=[window("chat", "2026-10-02", "2026-10-01")])
    with pytest.raises(AiSystemError, match="producing window needs an end"):
        version(owner, "1.0", produced_by=[window("train", "2026-10-01")])
    with pytest.raises(AiSystemError, match="overlap"):
        version(
            owner,
            "1.0",
            produced_by=[
                window("train", "2026-10-01", "2026-10-10"),
                window("train", "2026-10-05", "2026-10-20"),
            ],
        )
    assert not AiSystemVersion.objects.exists()


def test_the_parent_is_of_the_same_system_and_never_a_descendant():
    owner, other = system(), system("translator")
    foreign = version(other, "1.0")
    with pytest.raises(AiSystemError, match="another AI system"):
        version(owner, "1.0", parent=foreign, relation="fine_tuned")
    first = version(owner, "1.0")
    second = version(owner, "2.0", parent=first, relation="distilled")
    with pytest.raises(AiSystemError, match="own descendant"):
        version_save(
            system=owner,
            instance=first,
            version="1.0",
            parent=second,
            relation="retrained",
            produced_by=[],
            served_by=[],
        )
    with pytest.raises(AiSystemError, match="relation"):
        version(owner, "3.0", parent=second)
    first.refresh_from_db()
    assert first.parent is None


def test_another_teams_project_is_refused_unless_an_admin_allows_it():
    owner = system()
    elsewhere = window("vision-serve", "2026-10-01", team_name="Vision")
    with pytest.raises(AiSystemError, match="not team nlp's"):
        version(owner, "1.0", served_by=[elsewhere])
    version(owner, "1.0", served_by=[elsewhere], allow_other_teams=True)


def test_negative_or_infinite_numbers_are_refused():
    owner = system()
    with pytest.raises(AiSystemError, match="latency_p95_ms"):
        version(owner, "1.0", latency_p95_ms=-1.0)
    with pytest.raises(AiSystemError, match="quality_value"):
        version(owner, "1.0", quality_value=float("inf"))
