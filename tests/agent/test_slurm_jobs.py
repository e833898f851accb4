"""Slurm jobs of GPU processes, read from a fake /proc tree by the nvml source."""

from collectors.agent.model import build_payload
from collectors.agent.sources.attribution import merge_jobs, slurm_job_for_environ
from tests.agent import fake_pynvml as nvml
from tests.agent.fake_pynvml import FakeGpu, FakeMig
from tests.agent.test_nvml import Clock, make_source, write_environ


def slurm_env(job_id, user, account, partition):
    return {
        "SLURM_JOB_ID": job_id,
        "SLURM_JOB_USER": user,
        "SLURM_JOB_ACCOUNT": account,
        "SLURM_JOB_PARTITION": partition,
    }


def test_slurm_environment_is_the_job_id_user_account_and_partition():
    env = {**slurm_env("4711", "alice", "vision", "gpu-a100"), "PATH": "/bin"}
    assert dict(slurm_job_for_environ(env)) == {
        "id": "4711",
        "user": "alice",
        "account": "vision",
        "partition": "gpu-a100",
    }
    assert slurm_job_for_environ({"SLURM_JOB_ID": " 12 ", "SLURM_JOB_USER": ""}) == (("id", "12"),)
    assert slurm_job_for_environ({"SLURM_JOB_ACCOUNT": "vision"}) is None


def test_jobs_merge_per_job_and_round_down_like_tags():
    job = (("id", "1"),)
    assert merge_jobs([(job, 1 / 3), (job, 1 / 3), (None, 1 / 3)]) == [
        {"id": "1", "share": 0.666666}
    ]
    assert merge_jobs([(None, 1.0)]) is None


def test_gpu_processes_of_two_slurm_jobs_share_the_gpu_by_sm_utilisation(tmp_path):
    gpu = FakeGpu("GPU-a", processes=[100, 101, 200], process_sm_util={100: 40, 101: 20, 200: 20})
    write_environ(tmp_path, 100, **slurm_env("4711", "alice", "vision", "gpu"))
    write_environ(tmp_path, 101, **slurm_env("4711", "alice", "vision", "gpu"))
    write_environ(tmp_path, 200, **slurm_env("4712", "bob", "nlp", "gpu-long"))
    nvml.configure([gpu])
    clock = Clock()
    source = make_source(clock, tmp_path)
    source.open()
    clock.advance(1.0, gpu)
    (sample,) = source.read()
    assert sample.job == [
        {"id": "4711", "user": "alice", "account": "vision", "partition": "gpu", "share": 0.75},
        {"id": "4712", "user": "bob", "account": "nlp", "partition": "gpu-long", "share": 0.25},
    ]
    # Without GREENAI_PROJECT the jobs carry no tag: the server's rules map them by account.
    assert sample.tags is None
    payload = build_payload(batch_id="b", hostname="h", agent_version="0", samples=[sample])
    assert payload["samples"][0]["job"] == sample.job


def test_processes_outside_slurm_carry_no_job(tmp_path):
    gpu = FakeGpu("GPU-a", processes=[100], process_sm_util=None)
    write_environ(tmp_path, 100, GREENAI_PROJECT="llm")
    nvml.configure([gpu])
    clock = Clock()
    source = make_source(clock, tmp_path)
    source.open()
    clock.advance(1.0, gpu)
    (sample,) = source.read()
    assert sample.job is None
    payload = build_payload(batch_id="b", hostname="h", agent_version="0", samples=[sample])
    assert "job" not in payload["samples"][0]


def test_slurm_job_on_a_mig_slice_gets_the_slice_share(tmp_path):
    gib = 1024**3
    gpu = FakeGpu(
        "GPU-a100",
        memory_total=80 * gib,
        mig=[FakeMig("MIG-1", "MIG 3g.40gb", 40 * gib, processes=[100])],
    )
    write_environ(tmp_path, 100, **slurm_env("9", "carol", "bio", "mig"))
    nvml.configure([gpu])
    clock = Clock()
    source = make_source(clock, tmp_path)
    source.open()
    clock.advance(1.0, gpu)
    (sample,) = source.read()
    assert sample.job == [
        {"id": "9", "user": "carol", "account": "bio", "partition": "mig", "share": 0.5}
    ]


def test_gap_after_a_restart_carries_no_job(tmp_path):
    gpu = FakeGpu("GPU-a", processes=[100])
    write_environ(tmp_path, 100, **slurm_env("1", "u", "a", "p"))
    nvml.configure([gpu])
    clock = Clock()
    first = make_source(clock, tmp_path)
    first.open()
    state = first.state()
    clock.advance(60.0, gpu)
    second = make_source(clock, tmp_path)
    second.open(state)
    (sample,) = second.read()
    assert sample.duration_s == 60.0
    assert sample.job is None and sample.tags is None


def test_greenai_project_inside_a_slurm_job_gives_a_tag_beside_the_job(tmp_path):
    gpu = FakeGpu("GPU-a", processes=[100], process_sm_util=None)
    write_environ(tmp_path, 100, GREENAI_PROJECT="llm", **slurm_env("5", "dan", "nlp", "gpu"))
    nvml.configure([gpu])
    clock = Clock()
    source = make_source(clock, tmp_path)
    source.open()
    clock.advance(1.0, gpu)
    (sample,) = source.read()
    assert sample.tags == [{"project": "llm", "share": 1.0}]
    assert sample.job == [
        {"id": "5", "user": "dan", "account": "nlp", "partition": "gpu", "share": 1.0}
    ]
