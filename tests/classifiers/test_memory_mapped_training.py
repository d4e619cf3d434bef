"""Training from a memory-mapped data set gives what training from memory gives.

A data set above ``DicomLoader(memory_limit=...)`` comes out of the Resizer
as a memory map; the classifiers stream it batch by batch (Keras would copy
an array whole), fold subsets and augmented copies stay on disk. Each batch
holds the whole training set here (batch_size >= n) and there is no
dropout, so the order of samples, the one thing the streamed feed draws its
own way, cannot matter.
"""

import numpy as np
import pytest

from mammoclf import DicomLoader, Resizer, ScratchCNNClassifier, make_pipeline
from mammoclf.classifiers import _base
from mammoclf.datasets import make_synthetic_mammograms
from mammoclf.storage import is_memory_mapped


@pytest.fixture(scope="module")
def stored_images(tmp_path_factory):
    """The same resized images twice: in memory, and memory-mapped (limit 1 kB)."""
    folder = tmp_path_factory.mktemp("mapped")
    data = make_synthetic_mammograms(
        24, image_size=48, random_state=0, directory=folder / "files"
    )
    in_memory = Resizer(size=16).fit_transform(DicomLoader().transform(data.paths))
    loader = DicomLoader(cache_dir=folder / "cache", memory_limit=1000)
    mapped = Resizer(size=16).fit_transform(loader.transform(data.paths))
    return in_memory, mapped, np.asarray(data.labels), np.asarray(data.groups)


def tiny_cnn(**params):
    settings = {"epochs": 2, "batch_size": 64, "random_state": 0, **params}
    return ScratchCNNClassifier(filters=(4,), dense_units=8, dropout=0.0, **settings)


def test_fit_and_predict_from_a_memory_map_equal_fitting_from_memory(
    stored_images, monkeypatch
):
    in_memory, mapped, y, _ = stored_images
    assert is_memory_mapped(mapped) and not is_memory_mapped(in_memory)
    streamed = []
    original = _base.stream_batches

    def spy(keras, X, *args, **kwargs):
        streamed.append(is_memory_mapped(X))
        return original(keras, X, *args, **kwargs)

    monkeypatch.setattr(_base, "stream_batches", spy)
    from_memory = tiny_cnn(validation_fraction=0.25).fit(in_memory, y)
    assert streamed == []
    from_disk = tiny_cnn(validation_fraction=0.25).fit(mapped, y)
    # Training and validation parts both streamed from memory maps.
    assert streamed == [True, True]
    np.testing.assert_allclose(
        from_disk.history_["val_loss"], from_memory.history_["val_loss"], rtol=1e-5
    )
    np.testing.assert_allclose(
        from_disk.predict_proba(mapped),
        from_memory.predict_proba(in_memory),
        rtol=1e-5,
        atol=1e-6,
    )


# Four more fits; the default suite covers this path through the command line
# (tests/cli/test_image_cache_cli.py) and take_rows/Augmenter in tests/utils.
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:NPV is undefined")
def test_compare_models_folds_of_a_memory_map_score_as_from_memory(stored_images):
    from sklearn.model_selection import GroupKFold

    from mammoclf import Augmenter
    from mammoclf.model_selection import compare_models

    in_memory, mapped, y, groups = stored_images

    def run(X):
        model = make_pipeline(Augmenter(random_state=0), tiny_cnn(epochs=1))
        return compare_models(
            {"cnn": model}, X, y, groups=groups, cv=GroupKFold(n_splits=2)
        )

    np.testing.assert_allclose(
        run(mapped).y_score["cnn"],
        run(in_memory).y_score["cnn"],
        rtol=1e-5,
        atol=1e-6,
    )
