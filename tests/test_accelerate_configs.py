"""The shipped accelerate configs (train/accelerate/*.yaml): accelerate reads them, and their process
count and precision reach a run the way ``accelerate launch --config_file`` passes them on.

``accelerate launch`` turns a config file into launcher arguments (``_validate_launch_command``)
and those into the environment of each process (``prepare_*_env``); here both steps run without
starting anything, and the precision module reads the result. The real two-process CPU launch with
``cpu-2proc.yaml`` is the slow test in test_training_mlm.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[1] / "train" / "accelerate"
EXPECTED = {
    # file: (distributed type, processes, mixed precision, use_cpu)
    "cpu-2proc.yaml": ("MULTI_GPU", 2, "no", True),
    "gpu-bf16.yaml": ("NO", 1, "bf16", False),
    "multi-gpu.yaml": ("MULTI_GPU", 2, "bf16", False),
}


def test_every_shipped_config_is_tested():
    assert sorted(path.name for path in CONFIGS.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_accelerate_loads_the_config_with_its_values(name):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(CONFIGS / name))
    distributed, processes, precision, use_cpu = EXPECTED[name]
    assert config.compute_environment.value == "LOCAL_MACHINE"
    assert config.distributed_type.value == distributed
    assert (config.num_processes, config.mixed_precision, bool(config.use_cpu)) == (processes, precision, use_cpu)


def launch_environment(name: str, *extra: str) -> tuple[dict[str, str], object]:
    """What ``accelerate launch --config_file NAME [extra] train/pretrain_mlm.py`` gives each process."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env, prepare_simple_launcher_cmd_env

    arguments = ["--config_file", str(CONFIGS / name), *extra, "train/pretrain_mlm.py", "--config", "tiny"]
    args, _, _ = _validate_launch_command(launch_command_parser().parse_args(arguments))
    if args.multi_gpu:
        return prepare_multi_gpu_env(args), args
    _, environment = prepare_simple_launcher_cmd_env(args)
    return environment, args


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_configs_precision_and_process_count_reach_the_run(name, monkeypatch):
    from versebert.training.precision import LAUNCHER_VARIABLE, resolve_mixed_precision

    environment, args = launch_environment(name)
    _, processes, precision, _ = EXPECTED[name]
    assert environment[LAUNCHER_VARIABLE] == precision
    if processes > 1:
        assert args.multi_gpu and args.nproc_per_node == str(processes)  # torchrun starts that many ranks
    else:
        assert not args.multi_gpu
    monkeypatch.setenv(LAUNCHER_VARIABLE, environment[LAUNCHER_VARIABLE])
    assert resolve_mixed_precision("auto") == precision  # the presets' "auto" defers to the launcher


def test_launcher_flags_override_the_config_file(monkeypatch):
    environment, args = launch_environment("multi-gpu.yaml", "--num_processes", "8", "--mixed_precision", "no")
    assert args.nproc_per_node == "8" and environment["ACCELERATE_MIXED_PRECISION"] == "no"
