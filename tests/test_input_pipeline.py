"""The input pipeline under a grid search: how often is each DICOM file decoded?

A grid search fits one pipeline per candidate and fold, and each fit
transforms its training fold and scores its test fold. Without a cache every
one of those steps decodes its files again. ``DicomLoader(cache_dir=...)``
stores the resized images per file, so the whole search decodes each file
once; ``Pipeline(memory=...)`` only reuses fitted transformers on identical
training data, so scoring still decodes. Decodes are counted in this process
(``n_jobs=None`` decodes in-process) by wrapping the reader.
"""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.preprocessing import FunctionTransformer

from mammoclf import DicomLoader, Resizer, ScratchCNNClassifier, make_pipeline
from mammoclf.datasets import make_synthetic_mammograms

N_IMAGES = 12
N_FOLDS = 2


@pytest.fixture(scope="module")
def mammograms(tmp_path_factory):
    """12 synthetic DICOM mammograms of 6 patients (two views each)."""
    directory = tmp_path_factory.mktemp("synthetic")
    return make_synthetic_mammograms(
        N_IMAGES, image_size=32, random_state=0, directory=directory
    )


def _flatten(images):
    return images.reshape(len(images), -1)


def _logistic_pipeline(**pipeline_kwargs):
    loader_kwargs = pipeline_kwargs.pop("loader", {})
    return make_pipeline(
        DicomLoader(**loader_kwargs),
        Resizer(size=8),
        FunctionTransformer(_flatten),
        LogisticRegression(),
        **pipeline_kwargs,
    )


def _search(pipeline, grid, data):
    search = GridSearchCV(pipeline, grid, cv=GroupKFold(N_FOLDS), n_jobs=1)
    return search.fit(data.paths, data.labels, groups=data.groups)


def test_grid_search_with_loader_cache_decodes_each_file_once(
    mammograms, decode_counter, tmp_path
):
    # The study's pipeline shape: loader, resizer, a mammoclf classifier.
    pipeline = make_pipeline(
        DicomLoader(cache_dir=tmp_path / "decoded"),
        Resizer(size=16),
        ScratchCNNClassifier(filters=(4,), dense_units=4, epochs=1, random_state=0),
    )
    grid = {"scratchcnnclassifier__learning_rate": [1e-3, 1e-2]}
    search = _search(pipeline, grid, mammograms)
    # 2 candidates x 2 folds, each transforming a training and a test fold,
    # then the refit on everything: 9 passes over the files, one decode each.
    assert sorted(decode_counter) == sorted(mammograms.paths)
    assert len(search.cv_results_["params"]) == 2
    # Predicting afterwards reads the cache too.
    probabilities = search.predict_proba(mammograms.paths)
    assert probabilities.shape == (N_IMAGES, 2)
    assert len(decode_counter) == N_IMAGES


def test_grid_search_without_cache_decodes_per_candidate_and_fold(
    mammograms, decode_counter
):
    # The cost the cache removes: every candidate decodes its training and
    # test folds (each file once per candidate in each role), and the refit
    # decodes everything once more.
    n_candidates = 3
    _search(
        _logistic_pipeline(), {"logisticregression__C": [0.1, 1.0, 10.0]}, mammograms
    )
    per_file = (N_FOLDS - 1) * n_candidates + n_candidates + 1
    assert len(decode_counter) == per_file * N_IMAGES
    assert all(decode_counter.count(path) == per_file for path in mammograms.paths)


def test_pipeline_memory_reuses_training_folds_but_not_scoring(
    mammograms, decode_counter, tmp_path
):
    # Pipeline(memory=...) caches fitted transformers keyed on their input:
    # a fold's training images are decode_counter once for all candidates, but the
    # test folds are transformed at score time (never cached) and the refit
    # sees new input. Hence the loader's cache_dir for decode-once searches.
    n_candidates = 3
    pipeline = _logistic_pipeline(memory=str(tmp_path / "memory"))
    _search(pipeline, {"logisticregression__C": [0.1, 1.0, 10.0]}, mammograms)
    per_file = (N_FOLDS - 1) + n_candidates + 1
    assert all(decode_counter.count(path) == per_file for path in mammograms.paths)


def test_cached_and_uncached_searches_agree(mammograms, tmp_path):
    grid = {"logisticregression__C": [0.1, 10.0]}
    plain = _search(_logistic_pipeline(), grid, mammograms)
    cached = _search(
        _logistic_pipeline(loader={"cache_dir": tmp_path / "decoded"}), grid, mammograms
    )
    np.testing.assert_array_equal(
        cached.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )
    np.testing.assert_allclose(
        cached.predict_proba(mammograms.paths), plain.predict_proba(mammograms.paths)
    )
