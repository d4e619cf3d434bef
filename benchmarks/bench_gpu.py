"""GPU: DenseNet121 fine-tuning at 224 px, mammoclf vs plain Keras vs PyTorch.

Meant for one H100 with ``KERAS_BACKEND=jax`` (see benchmarks/README.md for
the device command); it also runs, slowly, at toy sizes on a CPU. Every
configuration runs in a fresh process, one after the other, so each starts
with the whole GPU and its own compilation caches; all use the same seeded
random images and alternating labels.

Part ``throughput`` (per batch size of ``--batch-sizes``), full fine-tuning
(every weight but BatchNormalization's trains), images/s over the epochs
after the first (which traces and compiles):

- ``mammoclf``: ``DenseNetTransferClassifier(weights=None, precision=
  "mixed_bfloat16", frozen_cache="off")`` with the schedule head for 1 epoch,
  then everything for ``--epochs`` epochs; the all-layers stage is timed;
- ``keras-bf16`` / ``keras-fp32``: the same network built by mammoclf's own
  builder, every layer but BatchNormalization trainable, compiled with the
  same optimizer, loss and metrics, and a plain ``model.fit``;
- ``torch-fp32`` / ``torch-bf16`` / ``torch-bf16-compile``: the loop of
  bench_gpu_torch.py (``torchvision.models.densenet121``).

Targets: mammoclf >= 0.95x plain Keras on the same backend and precision.

Part ``schedule``: the study's partially unfrozen schedule (``"partial"``:
head for ``--epochs`` epochs, then ``conv5``/``denseblock4`` and the head for
``--epochs`` epochs at a tenth of the learning rate) on ``--schedule-images``
images, end-to-end wall time: mammoclf with frozen-prefix caching
(``frozen_cache="auto"``) vs the fastest PyTorch mode of the throughput part
at that batch size (or ``--torch-mode``) running the same schedule without
caching. Target: mammoclf faster.

Run (GPU machine; one command appends one row per part)::

    KERAS_BACKEND=jax python benchmarks/bench_gpu.py
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _timing import median, steady_epochs

KERAS_CONFIGS = ("mammoclf", "keras-bf16", "keras-fp32")
TORCH_CONFIGS = ("torch-fp32", "torch-bf16", "torch-bf16-compile")
CONFIGS = KERAS_CONFIGS + TORCH_CONFIGS
_PRECISION = {
    "mammoclf": "mixed_bfloat16",
    "keras-bf16": "mixed_bfloat16",
    "keras-fp32": "float32",
}


# ----------------------------------------------------------- child processes
def accelerator_name(keras):
    """What Keras computes on: the first device of its backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return f"{device.platform}: {getattr(device, 'device_kind', device)}"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return f"gpu: {gpus[0].name}" if gpus else "cpu"
    if backend == "torch":
        import torch

        return (
            f"cuda: {torch.cuda.get_device_name()}"
            if torch.cuda.is_available()
            else "cpu"
        )
    return "unknown"


def run_keras(config, *, batch_size, n_images, image_size, epochs):
    """Full fine-tuning throughput of one Keras configuration (in this process)."""
    from bench_estimator_overhead import fit_baseline, fit_mammoclf, make_data

    from mammoclf.utils._keras import import_keras

    keras = import_keras()
    X, y = make_data(n_images, image_size)
    if config == "mammoclf":
        run = fit_mammoclf(
            keras,
            "densenet",
            X,
            y,
            epochs=epochs,
            head_epochs=1,
            batch_size=batch_size,
            precision=_PRECISION[config],
        )
    else:
        run = fit_baseline(
            keras,
            "densenet",
            X,
            y,
            epochs=epochs,
            head_epochs=0,
            batch_size=batch_size,
            precision=_PRECISION[config],
        )
    full_stage = run["epoch_s"][-1]
    return {
        "config": config,
        "backend": keras.backend.backend(),
        "device_name": accelerator_name(keras),
        "precision": _PRECISION[config],
        "batch_size": batch_size,
        "n_images": n_images,
        "image_size": image_size,
        "epochs": epochs,
        "total_s": run["total_s"],
        "epoch_s": run["epoch_s"],
        "img_s": n_images / median(steady_epochs(full_stage)),
    }


def run_keras_schedule(*, batch_size, n_images, image_size, epochs):
    """End-to-end wall time of mammoclf's "partial" preset with caching."""
    from bench_estimator_overhead import make_data

    from mammoclf import DenseNetTransferClassifier
    from mammoclf.utils._keras import import_keras

    keras = import_keras()
    X, y = make_data(n_images, image_size)
    estimator = DenseNetTransferClassifier(
        weights=None,
        freeze_schedule="partial",
        frozen_cache="auto",
        precision="mixed_bfloat16",
        epochs=epochs,
        batch_size=batch_size,
        random_state=0,
    )
    started = time.perf_counter()
    estimator.fit(X, y)
    total = time.perf_counter() - started
    return {
        "config": "mammoclf-partial",
        "backend": keras.backend.backend(),
        "device_name": accelerator_name(keras),
        "precision": "mixed_bfloat16",
        "batch_size": batch_size,
        "n_images": n_images,
        "image_size": image_size,
        "epochs": epochs,
        "total_s": total,
        "stages": [
            {
                key: stage[key]
                for key in (
                    "trainable_blocks",
                    "frozen_cache",
                    "cache_time",
                    "fit_time",
                )
            }
            for stage in estimator.stages_
        ],
    }


# -------------------------------------------------------------- orchestrator
def run_child(arguments, *, script=__file__, timeout):
    """Run one configuration in a fresh interpreter; return its JSON result."""
    command = [sys.executable, script, *arguments]
    print("$", " ".join(command), flush=True)
    completed = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=timeout
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(arguments)} failed ({completed.returncode}):\n"
            f"{completed.stderr[-4000:]}"
        )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    print(json.dumps({k: v for k, v in result.items() if k != "epoch_s"}), flush=True)
    return result


def torch_arguments(
    mode, *, schedule, batch_size, n_images, image_size, epochs, device
):
    return [
        "--mode",
        mode,
        "--schedule",
        schedule,
        "--batch-size",
        str(batch_size),
        "--n-images",
        str(n_images),
        "--image-size",
        str(image_size),
        "--epochs",
        str(epochs),
        "--device",
        device,
    ]


def measure_throughput(
    configs, *, batch_sizes, n_images, image_size, epochs, torch_device, timeout
):
    """``{batch_size: {config: result}}`` for the full fine-tuning configurations."""
    torch_script = os.path.join(HERE, "bench_gpu_torch.py")
    results = {}
    for batch_size in batch_sizes:
        results[batch_size] = {}
        for config in configs:
            sizes = {
                "batch_size": batch_size,
                "n_images": n_images,
                "image_size": image_size,
                "epochs": epochs,
            }
            if config in KERAS_CONFIGS:
                arguments = ["--run", config] + [
                    f"--{key.replace('_', '-')}={value}" for key, value in sizes.items()
                ]
                results[batch_size][config] = run_child(arguments, timeout=timeout)
            else:
                mode = config.removeprefix("torch-")
                results[batch_size][config] = run_child(
                    torch_arguments(
                        mode, schedule="full", device=torch_device, **sizes
                    ),
                    script=torch_script,
                    timeout=timeout,
                )
    return results


def best_torch_mode(throughput, batch_size):
    """The PyTorch mode with the highest measured throughput at ``batch_size``."""
    measured = {
        config: result["img_s"]
        for config, result in throughput.get(batch_size, {}).items()
        if config in TORCH_CONFIGS
    }
    if not measured:
        return None
    return max(measured, key=measured.get).removeprefix("torch-")


def measure_schedule(
    *, torch_mode, batch_size, n_images, image_size, epochs, torch_device, timeout
):
    sizes = {
        "batch_size": batch_size,
        "n_images": n_images,
        "image_size": image_size,
        "epochs": epochs,
    }
    ours = run_child(
        ["--run", "mammoclf-partial"]
        + [f"--{key.replace('_', '-')}={value}" for key, value in sizes.items()],
        timeout=timeout,
    )
    theirs = run_child(
        torch_arguments(torch_mode, schedule="partial", device=torch_device, **sizes),
        script=os.path.join(HERE, "bench_gpu_torch.py"),
        timeout=timeout,
    )
    return {
        "mammoclf": ours,
        "torch": theirs,
        "ratio": theirs["total_s"] / ours["total_s"],
    }


def describe_throughput(results, image_size):
    sentences = []
    for batch_size, by_config in results.items():
        parts = [
            f"{config} {result['img_s']:.0f}" for config, result in by_config.items()
        ]
        sentence = (
            f"full fine-tuning at {image_size} px, batch {batch_size}, img/s "
            f"(epochs after the first): " + ", ".join(parts)
        )
        ours = by_config.get("mammoclf")
        if ours and "keras-bf16" in by_config:
            ratio = ours["img_s"] / by_config["keras-bf16"]["img_s"]
            sentence += f"; mammoclf / plain Keras bf16 x{ratio:.3f}"
        torch = [r["img_s"] for c, r in by_config.items() if c in TORCH_CONFIGS]
        if ours and torch:
            sentence += f"; mammoclf / best PyTorch x{ours['img_s'] / max(torch):.3f}"
        sentences.append(sentence)
    return "; ".join(sentences)


def describe_schedule(result):
    ours, theirs = result["mammoclf"], result["torch"]
    return (
        f'"partial" schedule, {ours["n_images"]} images at {ours["image_size"]} px, '
        f"batch {ours['batch_size']}, {ours['epochs']} + {ours['epochs']} epochs, end "
        f"to end: mammoclf bf16 with frozen-prefix caching {ours['total_s']:.1f} s "
        f"(cache pass {ours['stages'][0]['cache_time']:.1f} s) vs PyTorch "
        f"{theirs['mode']} without caching {theirs['total_s']:.1f} s, "
        f"x{result['ratio']:.2f}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="throughput,schedule")
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help="throughput configurations, from: " + ", ".join(CONFIGS),
    )
    parser.add_argument("--batch-sizes", default="64,256")
    parser.add_argument("--n-images", type=int, default=2048)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument(
        "--epochs",
        type=int,
        default=4,
        help="epochs of the timed stage; the first is excluded",
    )
    parser.add_argument(
        "--schedule-images",
        type=int,
        default=2400,
        help="a training fold of the 3,000-image study",
    )
    parser.add_argument("--schedule-epochs", type=int, default=10)
    parser.add_argument("--schedule-batch-size", type=int, default=64)
    parser.add_argument(
        "--torch-mode",
        default=None,
        help="PyTorch mode of the schedule part (default: the "
        "fastest measured, else bf16-compile)",
    )
    parser.add_argument("--torch-device", default="cuda")
    parser.add_argument(
        "--timeout", type=int, default=900, help="seconds allowed per configuration"
    )
    parser.add_argument("--json", help="also write every raw result to this file")
    parser.add_argument(
        "--results-file",
        help="append the rows there, not to "
        "RESULTS.md (e.g. $OUT/RESULTS-gpu.md on the device)",
    )
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument(
        "--run", choices=KERAS_CONFIGS + ("mammoclf-partial",), help=argparse.SUPPRESS
    )
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    if args.run:
        sizes = {
            "batch_size": args.batch_size,
            "n_images": args.n_images,
            "image_size": args.image_size,
            "epochs": args.epochs,
        }
        if args.run == "mammoclf-partial":
            print(json.dumps(run_keras_schedule(**sizes)))
        else:
            print(json.dumps(run_keras(args.run, **sizes)))
        return

    parts = args.parts.split(",")
    configs = args.configs.split(",")
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configurations {unknown}; choose from {CONFIGS}")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    raw, sentences = {}, {}
    throughput = {}
    if "throughput" in parts:
        throughput = measure_throughput(
            configs,
            batch_sizes=batch_sizes,
            n_images=args.n_images,
            image_size=args.image_size,
            epochs=args.epochs,
            torch_device=args.torch_device,
            timeout=args.timeout,
        )
        raw["throughput"] = throughput
        sentences["gpu fine-tuning"] = describe_throughput(throughput, args.image_size)
    if "schedule" in parts:
        mode = (
            args.torch_mode
            or best_torch_mode(throughput, args.schedule_batch_size)
            or "bf16-compile"
        )
        schedule = measure_schedule(
            torch_mode=mode,
            batch_size=args.schedule_batch_size,
            n_images=args.schedule_images,
            image_size=args.image_size,
            epochs=args.schedule_epochs,
            torch_device=args.torch_device,
            timeout=args.timeout,
        )
        raw["schedule"] = schedule
        sentences["gpu partial schedule"] = describe_schedule(schedule)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(raw, handle, indent=1, default=_jsonable)
    for sentence in sentences.values():
        print(sentence)
    if args.no_record:
        return
    from _results import append_row, machine_description

    devices = sorted({result["device_name"] for result in _all_results(raw)})
    machine = f"{machine_description()}; {' / '.join(devices)}"
    backend = os.environ.get("KERAS_BACKEND", "tensorflow") + " (Keras) + PyTorch"
    for benchmark, sentence in sentences.items():
        append_row(
            benchmark,
            sentence,
            machine=machine,
            backend=backend,
            results_file=args.results_file,
        )


def _all_results(raw):
    for by_config in raw.get("throughput", {}).values():
        yield from by_config.values()
    if "schedule" in raw:
        yield raw["schedule"]["mammoclf"]
        yield raw["schedule"]["torch"]


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    main()
