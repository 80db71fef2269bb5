"""What infra/ promises, checked as far as this machine allows (no cloud account, no cluster, no GPU).

- Dataflow: infra/dataflow/launch.sh runs the real `kosmos-corpus` CLI for each pipeline with
  DataflowRunner's offline flags; the job it would submit (job description + staged pipeline proto)
  names our worker image, machine type, worker cap and GPU option, holds every stage of the
  pipeline, and every DoFn in it unpickles the way an SDK worker loads it.
- The worker Dockerfile is on the SDK image of this venv's Beam and Python versions.
- DeepSpeed: every ZeRO config in infra/deepspeed is accepted by kosmos_train's merge and by
  DeepSpeed's own config parser; two real 2-process CPU runs (gloo) go through
  infra/deepspeed/torchrun.sh (ZeRO-3 file) and infra/deepspeed/deepspeed.sh (ZeRO-2 file); the ZeRO-1
  file trains and exports (frozen weights come from the rank-0 module state).
- Every shell script in infra/ passes `bash -n`.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kosmos_train.test_train_torchrun import data, free_port, logged  # noqa: F401 - `data` is a fixture

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
BIN = Path(sys.executable).parent
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "PYTHONPATH": str(REPO),
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
}
IMAGE = "us-docker.pkg.dev/test-project/kosmos/worker:0.1.0"
OFFLINE = ["--no_auth", "--dataflow_endpoint=http://localhost:1"]

# The named stages of each graph (pipelines/{text,image_text,interleaved}.py) for the flags used below.
STAGES = {
    "text": [
        "Files",
        "SpreadFiles",
        "ReadRows",
        "Filter",
        "Dedup",
        "AllDrops",
        "InputCount",
        "ToSample",
        "Write",
    ],
    "image-text": [
        "Files",
        "SpreadFiles",
        "ReadRows",
        "CountPerFile",
        "Offsets",
        "AssignShard",
        "GroupByUrl",
        "UrlVerdicts",
        "GroupByShard",
        "Download",
        "Finalize",
        "Finalize/Candidates",
        "Finalize/GroupBySha",
        "Finalize/ImageVerdicts",
        "Finalize/ScoreBins",
        "Finalize/CountPerBin",
        "Finalize/Threshold",
        "Finalize/ScoreVerdicts",
        "Finalize/NearImages",
        "Finalize/ByShard",
        "Finalize/Finalize",
        "Manifest",
        "Drops",
    ],
    "interleaved": [
        "Warcs",
        "SpreadWarcs",
        "Extract",
        "UrlDedup",
        "NearDedup",
        "GroupByImageUrl",
        "Boilerplate",
        "JoinBoilerplate",
        "RemoveBoilerplate",
        "JoinDrops",
        "GroupByShard",
        "Download",
        "Manifest",
        "Drops",
    ],
}


def pipeline_args(kind: str, tmp: Path) -> list[str]:
    """Small local inputs (nothing is read but the file list at graph construction) and flags that
    switch on the optional stages: CLIP scoring, CLIP top fraction, pHash near-duplicates, drops."""
    from pipelines.io.warc import write_test_warc

    inputs = tmp / "inputs"
    inputs.mkdir(exist_ok=True)
    out, drops = str(tmp / kind / "out"), str(tmp / kind / "drops")
    if kind == "text":
        (inputs / "docs.jsonl").write_text(
            json.dumps({"id": "a", "text": "A short document about the sea."}) + "\n"
        )
        return ["--input", str(inputs / "docs.jsonl"), "--output", out, "--drops", drops]
    if kind == "image-text":
        (inputs / "urls.jsonl").write_text(
            json.dumps({"url": "https://example.com/a.jpg", "caption": "A cat."}) + "\n"
        )
        return [
            "--input",
            str(inputs / "urls.jsonl"),
            "--output",
            out,
            "--drops",
            drops,
            "--clip-model",
            "ViT-B-32",
            "--clip-top-fraction",
            "0.3",
            "--phash-distance",
            "4",
        ]
    write_test_warc(
        str(inputs / "a.warc.gz"),
        [("https://example.com/p", b"<html><body><p>Hello.</p></body></html>", None)],
    )
    return [
        "--warc",
        str(inputs / "a.warc.gz"),
        "--output",
        out,
        "--drops",
        drops,
        "--clip-model",
        "ViT-B-32",
    ]


# per pipeline: environment for launch.sh (GPU workers for the two pipelines with a CLIP stage)
LAUNCH_ENV = {
    "text": {"MACHINE_TYPE": "n2-highmem-8", "MAX_WORKERS": "40"},
    "image-text": {"GPU_TYPE": "nvidia-l4", "MAX_WORKERS": "25"},
    "interleaved": {"GPU_TYPE": "nvidia-tesla-t4", "GPU_MODE": "stage", "MAX_WORKERS": "30"},
}


@pytest.fixture(scope="module")
def dataflow_jobs(tmp_path_factory) -> dict[str, dict]:
    """Build the Dataflow job of each pipeline offline through infra/dataflow/launch.sh, concurrently."""
    tmp = tmp_path_factory.mktemp("dataflow")
    procs = {}
    for kind in STAGES:
        temp = tmp / kind / "temp"
        (temp / "staging").mkdir(parents=True)  # Beam retries for minutes when a local staging dir is missing
        env = {
            **ENV,
            "PROJECT": "test-project",
            "REGION": "us-central1",
            "TEMP_LOCATION": str(temp),
            "IMAGE": IMAGE,
            "KOSMOS_CORPUS": str(BIN / "kosmos-corpus"),
            "JOB_NAME": f"kosmos-{kind}-test",
            **LAUNCH_ENV[kind],
        }
        cmd = [
            "bash",
            str(INFRA / "dataflow" / "launch.sh"),
            kind,
            *pipeline_args(kind, tmp),
            *OFFLINE,
            f"--template_location={tmp / kind / 'job.json'}",
        ]
        procs[kind] = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    jobs = {}
    for kind, proc in procs.items():
        output, _ = proc.communicate(timeout=240)
        jobs[kind] = {
            "rc": proc.returncode,
            "output": output,
            "job": tmp / kind / "job.json",
            "proto": tmp / kind / "temp" / "staging" / "pipeline.pb",
        }
    return jobs


def staged_pipeline(path: Path):
    from apache_beam.portability.api import beam_runner_api_pb2

    proto = beam_runner_api_pb2.Pipeline()
    proto.ParseFromString(path.read_bytes())
    return proto


def local_top_level_stages(kind: str, argv: list[str]) -> set[str]:
    """The top-level stage names of the same graph built in this process (no runner involved)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.cli import PIPELINES, build_parser

    args, _ = build_parser().parse_known_args([kind, *argv])
    _, options_module, builder = PIPELINES[kind]
    module, function = builder.split(":")
    cfg = importlib.import_module(options_module).config_from_args(args)
    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    getattr(importlib.import_module(module), function)(p, cfg)
    return {
        t.unique_name for t in p.to_runner_api().components.transforms.values() if "/" not in t.unique_name
    }


def unpickled_dofns(proto) -> dict[str, object]:
    """unique name -> DoFn for every Python ParDo, loaded as an SDK worker loads it."""
    from apache_beam.internal import pickler
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    out = {}
    for t in proto.components.transforms.values():
        if t.spec.urn != common_urns.primitives.PAR_DO.urn:
            continue
        payload = beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload)
        if payload.do_fn.urn == "beam:dofn:pickled_python_info:v1":
            out[t.unique_name] = pickler.loads(payload.do_fn.payload)[0]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(STAGES))
def test_dataflow_job_builds_offline(dataflow_jobs, kind, tmp_path):
    job = dataflow_jobs[kind]
    assert job["job"].exists() and job["proto"].exists(), job["output"][-3000:]
    env = json.loads(job["job"].read_text())["environment"]
    pool = env["workerPools"][0]
    assert pool["sdkHarnessContainerImages"][0]["containerImage"] == IMAGE
    assert pool["autoscalingSettings"]["maxNumWorkers"] == int(LAUNCH_ENV[kind]["MAX_WORKERS"])
    assert (
        pool["machineType"]
        == {"text": "n2-highmem-8", "image-text": "g2-standard-8", "interleaved": "n1-standard-8"}[kind]
    )
    assert "use_runner_v2" in env["experiments"]
    options = {d["key"]: d["value"] for d in env["sdkPipelineOptions"]["display_data"]}
    assert options["project"] == "test-project" and options["region"] == "us-central1"
    assert options["sdk_location"] == "container"

    proto = staged_pipeline(job["proto"])
    environments = list(proto.components.environments.values())
    assert all(IMAGE.encode() in e.payload for e in environments)  # every docker environment runs our image
    hinted = [e for e in environments if "beam:resources:accelerator:v1" in e.resource_hints]
    accelerator = (
        hinted[0].resource_hints["beam:resources:accelerator:v1"].decode()
        if len(hinted) == len(environments)
        else ""
    )
    if kind == "image-text":  # GPUs for every worker through the Dataflow service option
        assert (
            "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"
            in options["dataflow_service_options"]
        )
    elif kind == "interleaved":  # ... or as a hint on the download + CLIP step only (right fitting)
        assert not accelerator, "the pipeline's default environment must stay CPU-only"
        download = next(
            t
            for t in proto.components.transforms.values()
            if t.unique_name == "Download/ParDo(DownloadDocuments)"
        )
        hints = proto.components.environments[download.environment_id].resource_hints
        assert (
            hints["beam:resources:accelerator:v1"].decode()
            == "type:nvidia-tesla-t4;count:1;install-nvidia-driver"
        )
    else:
        assert not accelerator and options["dataflow_service_options"] == "[]"

    names = {t.unique_name for t in proto.components.transforms.values()}
    missing = [s for s in STAGES[kind] if s not in names]
    assert not missing, f"stages missing from the staged {kind} pipeline: {missing}"
    local = local_top_level_stages(kind, pipeline_args(kind, tmp_path))
    assert local <= names, sorted(local - names)

    dofns = unpickled_dofns(proto)
    assert dofns, "no Python ParDo in the staged pipeline"
    if kind == "image-text":  # CLIP scoring runs inside the per-shard download stage
        assert dofns["Download/ParDo(DownloadShard)"].cfg.clip.model == "ViT-B-32"
    if kind == "interleaved":
        assert dofns["Download/ParDo(DownloadDocuments)"].cfg.clip.model == "ViT-B-32"


@pytest.mark.slow
def test_kosmos_corpus_exits_0_after_building_a_template(dataflow_jobs):
    assert [job["rc"] for job in dataflow_jobs.values()] == [0, 0, 0], [
        j["output"][-500:] for j in dataflow_jobs.values()
    ]


def test_worker_image_matches_the_launching_environment():
    import apache_beam

    dockerfile = (INFRA / "dataflow" / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S*)$", dockerfile, flags=re.M))
    assert args["BEAM_VERSION"] == apache_beam.__version__
    assert args["PYTHON_VERSION"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert "FROM apache/beam_python${PYTHON_VERSION}_sdk:${BEAM_VERSION}" in dockerfile
    assert '".[pipelines,dataflow]"' in dockerfile
    for src in re.findall(r"^COPY (\S+) ", dockerfile, flags=re.M):
        assert (REPO / src).exists(), src
    lock = (REPO / "requirements" / "lock.txt").read_text()
    assert f"apache-beam=={apache_beam.__version__}\n" in lock


def test_shell_scripts_parse():
    scripts = sorted([*INFRA.rglob("*.sh"), *INFRA.rglob("*.sbatch")])
    assert len(scripts) >= 6
    for script in scripts:
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{script}: {done.stderr}"
        assert os.access(script, os.X_OK), f"{script} is not executable"


ZERO_CONFIGS = sorted((INFRA / "deepspeed").glob("zero*.json"))


@pytest.mark.parametrize("path", ZERO_CONFIGS, ids=[p.stem for p in ZERO_CONFIGS])
def test_zero_config_is_accepted(path):
    """kosmos_train's merge keeps its batch keys and takes the file's ZeRO section; DeepSpeed's own parser
    accepts the result. (Offload variants define an AdamW optimizer: DeepSpeed then uses its CPU Adam, a
    C++ op compiled on first use, 30-50 s; see infra/deepspeed/README.md.)"""
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    from deepspeed.runtime.config import DeepSpeedConfig

    from kosmos_train.train.config import tiny
    from kosmos_train.train.loop import deepspeed_config

    raw = json.loads(path.read_text())
    merged = deepspeed_config(tiny(), 3, False, path)
    assert merged["gradient_accumulation_steps"] == 3 and merged["train_micro_batch_size_per_gpu"] == 1
    assert merged["zero_optimization"]["stage"] == raw["zero_optimization"]["stage"] == int(path.stem[4])
    parsed = DeepSpeedConfig(merged)
    assert parsed.zero_optimization_stage == int(path.stem[4])
    offload = "offload" in path.stem
    assert (parsed.zero_config.offload_optimizer is not None) == offload
    if offload:
        assert parsed.optimizer_name == "adamw"
        assert (parsed.zero_config.offload_param is not None) == (parsed.zero_optimization_stage == 3)


def check_two_process_run(run: Path, stage: int) -> None:
    assert sorted(logged(run)) == [1, 2]
    assert json.loads((run / "data_state.json").read_text())["world_size"] == 2
    assert (run / "model.safetensors").exists()
    ckpt = {p.name for p in (run / "deepspeed").glob("step*/*.pt")}
    # ZeRO-3 partitions the model states per rank; stages 1 and 2 keep one model file
    want_model = (
        {f"zero_pp_rank_{r}_mp_rank_00_model_states.pt" for r in (0, 1)}
        if stage == 3
        else {"mp_rank_00_model_states.pt"}
    )
    assert want_model <= ckpt, ckpt
    assert {f"zero_pp_rank_{r}_mp_rank_00_optim_states.pt" for r in (0, 1)} <= ckpt, ckpt


def train_flags(data, run: Path, zero_file: str) -> list[str]:  # noqa: F811 - `data` is the imported fixture's value
    dirs, tok = data
    return [
        "--config",
        "tiny",
        "--steps",
        "2",
        "--save-every",
        "0",
        "--log-every",
        "1",
        "--tokenizer",
        str(tok.path),
        "--output",
        str(run),
        "--no-progress",
        "--deepspeed",
        str(INFRA / "deepspeed" / zero_file),
        "--data",
        *map(str, dirs),
    ]


@pytest.mark.slow
def test_torchrun_script_two_processes_zero3(data, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    env = {
        **ENV,
        "NNODES": "1",
        "NPROC_PER_NODE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "RDZV_ID": "test",
        "PYTHON": sys.executable,
    }
    done = subprocess.run(
        ["bash", str(INFRA / "deepspeed" / "torchrun.sh"), *train_flags(data, run, "zero3.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    check_two_process_run(run, stage=3)


@pytest.mark.slow
def test_deepspeed_script_two_processes_zero2(data, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    env = {
        **ENV,
        "DS_ACCELERATOR": "cpu",
        "NUM_GPUS": "2",
        "MASTER_PORT": str(free_port()),
        "DEEPSPEED": str(BIN / "deepspeed"),
    }
    done = subprocess.run(
        ["bash", str(INFRA / "deepspeed" / "deepspeed.sh"), *train_flags(data, run, "zero2.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    check_two_process_run(run, stage=2)


@pytest.mark.slow
def test_zero1_config_single_process(data, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    done = subprocess.run(
        [str(BIN / "kosmos_train"), "train", *train_flags(data, run, "zero1.json")],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert sorted(logged(run)) == [1, 2], done.stderr[-3000:]  # training itself works
    assert {"mp_rank_00_model_states.pt", "zero_pp_rank_0_mp_rank_00_optim_states.pt"} <= {
        p.name for p in (run / "deepspeed").glob("step*/*.pt")
    }
    assert done.returncode == 0 and (run / "model.safetensors").exists(), done.stderr[-3000:]
