"""Importing Keras through mammoclf keeps the framework's start-up lines off stderr."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_lazy_keras_import_is_quiet_unless_the_user_asked_for_logs():
    # Until 0.1: "cudart_stub.cc: Could not find cuda drivers", "This
    # TensorFlow binary is optimized ..." and "failed call to cuInit" on every
    # CPU-only machine (GPU machines print their own start-up lines).
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    code = (
        "import os; from mammoclf.utils._keras import import_keras; "
        "keras = import_keras(); print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "2"
    assert result.stderr == ""
