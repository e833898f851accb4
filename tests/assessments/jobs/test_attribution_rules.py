"""Attribution rules on plain values: first match wins, globs, what a missing attribute does."""

import pytest

from assessments.organisation.attribution import (
    Rule,
    first_match,
    job_key,
    rule_problem,
    tags_for_jobs,
)

RULES = [
    Rule(1, {"namespace": "nlp-*"}, "llm-pretrain", "training"),
    Rule(2, {"slurm_account": "vision"}, "vision-train"),
    Rule(3, {"namespace": "*"}, "catch-all"),
]


def test_the_first_matching_rule_wins():
    assert first_match(RULES, {"namespace": "nlp-prod", "pod": "p"}).project == "llm-pretrain"
    assert first_match(RULES, {"namespace": "web", "pod": "p"}).project == "catch-all"


def test_a_missing_attribute_matches_no_pattern_not_even_a_star():
    slurm_job = {"id": "42", "account": "physics", "user": "ada"}
    assert first_match(RULES, slurm_job) is None
    assert first_match(RULES, {**slurm_job, "account": "vision"}).project == "vision-train"


def test_every_pattern_of_a_rule_must_match():
    rule = Rule(1, {"namespace": "nlp-*", "pod": "train-?"}, "p")
    assert first_match([rule], {"namespace": "nlp-a", "pod": "train-1"})
    assert first_match([rule], {"namespace": "nlp-a", "pod": "train-10"}) is None
    assert first_match([rule], {"namespace": "NLP-a", "pod": "train-1"}) is None  # case matters


def test_jobs_become_tags_with_their_share_and_unmatched_jobs_stay_unallocated():
    jobs = [
        {"namespace": "nlp-a", "pod": "p1", "share": 0.25},
        {"namespace": "nlp-b", "pod": "p2", "share": 0.25},
        {"id": "7", "account": "other", "share": 0.5},
    ]
    tags = tags_for_jobs(jobs, RULES)
    assert tags == [
        {
            "project": "llm-pretrain",
            "share": 0.25,
            "rule": 1,
            "phase": "training",
            "job": "pod:nlp-a/p1",
        },
        {
            "project": "llm-pretrain",
            "share": 0.25,
            "rule": 1,
            "phase": "training",
            "job": "pod:nlp-b/p2",
        },
    ]
    assert tags_for_jobs([{"id": "7", "account": "other"}], RULES) is None


def test_job_keys_name_the_pod_else_the_slurm_job():
    assert job_key({"id": "ns/x", "namespace": "ns", "pod": "x"}) == "pod:ns/x"
    assert job_key({"id": "123", "user": "ada"}) == "job:123"


@pytest.mark.parametrize(
    "match, problem",
    [
        ({}, "at least one"),
        ([], "at least one"),
        ({"podname": "x"}, "unknown match key 'podname'"),
        ({"pod": ""}, "non-empty"),
        ({"pod": 3}, "non-empty"),
    ],
)
def test_unusable_matches_are_named(match, problem):
    assert problem in rule_problem(match)


def test_a_good_match_has_no_problem():
    assert rule_problem({"namespace": "nlp-*", "user": "ada"}) is None
