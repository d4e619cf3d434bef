"""On JAX, a second fit of the same configuration compiles nothing new.

Every fit builds a new Keras model, so its jitted functions are new; with
JAX's persistent compilation cache, a later fit of the same configuration
(another seed) loads the programs the first one compiled. That holds only
while nothing per fit (a seed, a name) is baked into the programs: this
guards it, the way the GPU suite (benchmarks/gpu_suite.sh) relies on it.
"""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    "benchmarks",
    "bench_compile_reuse.py",
)


@pytest.mark.slow  # about a minute: JAX compiles the first fit's programs on CPU
@pytest.mark.parametrize("model", ["scratch", "densenet"])
def test_second_fit_of_a_configuration_loads_every_program(tmp_path, model):
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    command = [
        sys.executable, SCRIPT, "--child", "--model", model, "--fold-sizes", "40,40",
        "--image-size", "32", "--epochs", "1", "--batch-size", "16",
        "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    result = subprocess.run(
        command, env=env, check=False, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = json.loads(result.stdout.strip().splitlines()[-1])
    assert first["misses"] >= 2  # the train and predict steps, at least
    assert second["misses"] == 0 and second["hits"] >= 2
    assert second["compile_s"] < first["compile_s"]
