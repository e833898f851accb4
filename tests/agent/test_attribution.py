from collectors.agent.sources.attribution import (
    ProcessProjects,
    merge_tags,
    parse_environ,
    process_shares,
    project_for_environ,
)


def test_environ_is_split_on_nul_bytes():
    raw = b"HOME=/root\0GREENAI_PROJECT=llm-finetune\0EMPTY=\0JUNK\0"
    assert parse_environ(raw) == {"HOME": "/root", "GREENAI_PROJECT": "llm-finetune", "EMPTY": ""}


def test_greenai_project_and_phase_name_the_project():
    env = {"GREENAI_PROJECT": "llm-finetune", "GREENAI_PHASE": "training"}
    assert project_for_environ(env) == ("llm-finetune", "training")


def test_slurm_environment_alone_names_no_project():
    # The job object carries it; the server's attribution rules map it to a project.
    assert project_for_environ({"SLURM_JOB_ACCOUNT": "nlp", "SLURM_JOB_ID": "42"}) is None
    assert project_for_environ({"SLURM_JOB_ID": "42", "GREENAI_PHASE": "training"}) is None


def test_greenai_project_inside_a_slurm_job_names_the_project():
    env = {"GREENAI_PROJECT": "vision", "SLURM_JOB_ACCOUNT": "nlp", "SLURM_JOB_ID": "42"}
    assert project_for_environ(env) == ("vision", None)


def test_environment_without_project_names_none():
    assert project_for_environ({"PATH": "/usr/bin"}) is None


def test_shares_follow_sm_utilisation():
    assert process_shares([10, 20], {10: 75.0, 20: 25.0}) == {10: 0.75, 20: 0.25}


def test_shares_are_equal_without_utilisation_or_when_all_idle():
    assert process_shares([10, 20, 30], None) == {10: 1 / 3, 20: 1 / 3, 30: 1 / 3}
    assert process_shares([10, 20], {10: 0.0, 20: 0.0}) == {10: 0.5, 20: 0.5}


def test_tags_merge_one_project_and_round_down_so_the_sum_stays_at_most_one():
    parts = [(("a", "training"), 1 / 3), (("a", "training"), 1 / 3), (("b", None), 1 / 3)]
    tags = merge_tags(parts)
    assert tags == [
        {"project": "a", "phase": "training", "share": 0.666666},
        {"project": "b", "share": 0.333333},
    ]
    assert sum(tag["share"] for tag in tags) <= 1


def test_processes_without_a_project_leave_their_share_untagged():
    assert merge_tags([(("a", None), 0.5), (None, 0.5)]) == [{"project": "a", "share": 0.5}]
    assert merge_tags([(None, 1.0)]) is None


def _proc(tmp_path, pid, environ: bytes):
    (tmp_path / str(pid)).mkdir()
    (tmp_path / str(pid) / "environ").write_bytes(environ)


def test_process_projects_read_proc_and_cache_while_the_pid_lives(tmp_path):
    _proc(tmp_path, 100, b"GREENAI_PROJECT=p1\0")
    projects = ProcessProjects(tmp_path)
    assert projects.project_of(100) == ("p1", None)
    (tmp_path / "100" / "environ").write_bytes(b"GREENAI_PROJECT=other\0")
    assert projects.project_of(100) == ("p1", None)
    projects.forget_except(set())  # the pid ended; a new process may reuse it
    assert projects.project_of(100) == ("other", None)


def test_a_vanished_process_has_no_project(tmp_path):
    assert ProcessProjects(tmp_path).project_of(999) is None


def test_unreadable_environ_is_counted_and_warned_once(tmp_path, monkeypatch, caplog):
    _proc(tmp_path, 100, b"GREENAI_PROJECT=p1\0")
    _proc(tmp_path, 101, b"GREENAI_PROJECT=p1\0")

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("pathlib.Path.read_bytes", refuse)
    projects = ProcessProjects(tmp_path)
    assert projects.project_of(100) is None
    assert projects.project_of(101) is None
    assert projects.unreadable == 2
    warnings = [r for r in caplog.records if "permission denied" in r.getMessage()]
    assert len(warnings) == 1
    assert "root" in warnings[0].getMessage()
