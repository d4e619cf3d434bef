"""Every Python block of README.md and docs/user_guide/*.md runs, in order, page by page.

Each page runs in a fresh interpreter, its blocks one after another in one
namespace, as a reader pasting them would run them. What a page says the
reader already has (their images ``X``, ``y`` and ``patient_ids``, their
``paths``, a fitted ``pipeline``, a Dask scheduler, a CBIS-DDSM download)
is set up first with small stand-ins, listed per page below. Where a page
shows a study-sized run (224 px, 5 folds, 15 epochs per stage), the test
scales it down by replacing the literal text, each replacement listed with
its reason; everything else runs as written.

``weights="imagenet"`` runs Keras's real download path offline: a weights
file of DenseNet121's structure, with random values, sits in a temporary
``KERAS_HOME``, where Keras looks for its cached download. Keras checks
the file's hash against the real file's, which random values cannot match,
so the check is waived for files in that folder only (``_SITECUSTOMIZE``).
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
CBIS_TABLES = ROOT / "tests" / "fixtures" / "cbis-ddsm"
WEIGHTS_FILE = "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"

# Pages with Python blocks: every one must be listed (see the first test).
TOY_IMAGES = """
import numpy as np
_rng = np.random.default_rng(0)
X = _rng.random((40, 32, 32), dtype=np.float32) * 0.5
y = np.array(["BENIGN", "MALIGNANT"] * 20)
X[y == "MALIGNANT", 12:20, 12:20] += 0.5
patient_ids = np.repeat(np.arange(20), 2)  # 10 patients per class
"""
READER_FILES = """
from mammoclf.datasets import make_synthetic_mammograms
_files = make_synthetic_mammograms(24, image_size=64, random_state=0,
                                   directory="reader-files")
paths = list(_files.paths)
"""
PAGES = {
    "README.md": {"setup": "", "replace": {}},
    "docs/user_guide/data.md": {
        "setup": READER_FILES
        + """
train_paths, train_labels = paths[:16], _files.labels[:16]
test_paths = paths[16:]
""",
        "replace": {},
    },
    "docs/user_guide/evaluation.md": {
        "setup": TOY_IMAGES
        + """
from mammoclf import Augmenter, DenseNetTransferClassifier, ScratchCNNClassifier
from mammoclf import make_pipeline
densenet_pipeline = make_pipeline(
    Augmenter(random_state=0),
    DenseNetTransferClassifier(freeze_schedule="partial", epochs=1, random_state=0),
)
model = ScratchCNNClassifier(filters=(4,), epochs=2, random_state=0)
grid = {"dropout": [0.2, 0.5]}
""",
        "replace": {},
    },
    "docs/user_guide/freeze_schedule.md": {
        "setup": TOY_IMAGES + "images, labels = X, y\n",
        "replace": {
            # 16 DenseNet fits of 10 epochs per stage: minutes on CPU.
            "DenseNetTransferClassifier(epochs=10, random_state=0)": (
                "DenseNetTransferClassifier(epochs=2, random_state=0)"
            ),
        },
    },
    "docs/user_guide/quickstart.md": {"setup": "", "replace": {}},
    "docs/user_guide/reliability.md": {
        "setup": READER_FILES
        + TOY_IMAGES
        + """
from mammoclf import DicomLoader, Resizer, ScratchCNNClassifier, make_pipeline
pipeline = make_pipeline(
    DicomLoader(), Resizer(size=32), ScratchCNNClassifier(filters=(4,), epochs=1)
).fit(paths, _files.labels)
""",
        "replace": {
            # The gradual schedule trains 6 stages: 90 epochs of 15.
            "epochs=15,": "epochs=2,",
        },
    },
    "docs/user_guide/scaling.md": {
        "setup": """
from distributed import LocalCluster
_cluster = LocalCluster(
    n_workers=2, threads_per_worker=1, resources={"GPU": 1}, dashboard_address=None
)
""",
        "replace": {
            # The reader's cluster and data set, here a local cluster whose
            # workers declare a GPU resource, and a small CBIS-DDSM stand-in.
            '"tcp://scheduler:8786"': "_cluster.scheduler_address",
            '"/data/CBIS-DDSM"': '"downloads/CBIS-DDSM"',
            # 62 DenseNet fits at 224 px over 5 folds: hours on CPU.
            "Resizer(size=224)": "Resizer(size=32)",
            "n_splits=5": "n_splits=2",
            "DenseNetTransferClassifier(random_state=0)": (
                "DenseNetTransferClassifier(epochs=1, random_state=0)"
            ),
        },
    },
    "docs/user_guide/why_not_scikeras.md": {"setup": "", "replace": {}},
}

# Keras's download cache check, waived for the stand-in file only; installed
# in every process (Dask and joblib workers too) without importing Keras.
_SITECUSTOMIZE = """
import importlib.util
import os
import sys

_TARGET = "keras.src.utils.file_utils"


def _patch(module):
    real = module.validate_file
    home = os.path.realpath(os.environ["KERAS_HOME"])

    def validate_file(fpath, file_hash, *args, **kwargs):
        if os.path.realpath(fpath).startswith(home + os.sep):
            return True  # the random-valued stand-in of the ImageNet weights
        return real(fpath, file_hash, *args, **kwargs)

    module.validate_file = validate_file


class _PatchOnImport:
    def find_spec(self, name, path=None, target=None):
        if name != _TARGET:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        real_exec = spec.loader.exec_module

        def exec_module(module):
            real_exec(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _PatchOnImport())
"""

_RUNNER = """
import json
import sys

PAGE, SETUP, BLOCKS = json.loads(sys.argv[1])


def run():
    namespace = {"__name__": "__main__"}
    exec(compile(SETUP, f"{PAGE} (test setup)", "exec"), namespace)
    for line, code in BLOCKS:
        print(f"=== {PAGE}, block at line {line}", flush=True)
        exec(compile(code, f"{PAGE}:{line}", "exec"), namespace)


if __name__ == "__main__":  # Dask's spawned workers re-import this file
    run()
"""


def python_blocks(page):
    """``[(line, code), ...]`` of the page's ```python blocks, in order."""
    text = (ROOT / page).read_text(encoding="utf-8")
    return [
        (text[: match.start()].count("\n") + 2, match.group(1))
        for match in re.finditer(
            r"^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE
        )
    ]


def test_every_page_with_python_blocks_is_run_here():
    pages = {"README.md"} | {
        str(path.relative_to(ROOT))
        for path in (ROOT / "docs" / "user_guide").glob("*.md")
        if python_blocks(path.relative_to(ROOT))
    }
    assert pages == set(PAGES)
    for page, spec in PAGES.items():
        text = "".join(code for _, code in python_blocks(page))
        for literal in spec["replace"]:
            assert literal in text, (page, literal)  # a replacement gone stale


@pytest.fixture(scope="module")
def keras_home(tmp_path_factory):
    """A KERAS_HOME whose models/ holds a random-valued DenseNet121 notop file."""
    h5py = pytest.importorskip("h5py")
    from mammoclf.utils._keras import import_keras, keras_seed

    keras = import_keras()
    with keras_seed(keras, 0):
        model = keras.applications.DenseNet121(
            include_top=False, weights=None, input_shape=(32, 32, 3)
        )
    home = tmp_path_factory.mktemp("keras-home")
    (home / "models").mkdir()
    # The layout of Keras's downloaded file: one group per layer with weights.
    layers = [layer for layer in model.layers if layer.weights]
    with h5py.File(home / "models" / WEIGHTS_FILE, "w") as handle:
        handle.attrs["layer_names"] = [layer.name.encode() for layer in layers]
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"2.1.5"
        for layer in layers:
            group = handle.create_group(layer.name)
            names = [f"{layer.name}/w{i}:0".encode() for i in range(len(layer.weights))]
            group.attrs["weight_names"] = names
            for name, value in zip(names, layer.get_weights()):
                group.create_dataset(name.decode(), data=value)
    (home / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    return home


def write_cbis_ddsm_stand_in(root):
    """The official tables' excerpts, with a tiny DICOM for every full image."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    root.mkdir(parents=True)
    for table in CBIS_TABLES.glob("*.csv"):
        (root / table.name).write_bytes(table.read_bytes())
        frame = pd.read_csv(table, dtype=str)
        for relative in frame["image file path"].str.strip():
            _, study, series, _ = relative.split("/")
            meta = FileMetaDataset()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
            meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID = meta.MediaStorageSOPClassUID
            ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.Modality = "MG"
            ds.Rows, ds.Columns = 64, 48
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated = ds.BitsStored = 16
            ds.HighBit, ds.PixelRepresentation = 15, 0
            ds.PixelData = np.arange(64 * 48, dtype=np.uint16).tobytes()
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(path, enforce_file_format=True)


@pytest.mark.slow
@pytest.mark.parametrize("page", list(PAGES))
def test_page_runs(page, keras_home, tmp_path):
    spec = PAGES[page]
    blocks = []
    for line, code in python_blocks(page):
        for literal, replacement in spec["replace"].items():
            code = code.replace(literal, replacement)
        blocks.append((line, code))
    write_cbis_ddsm_stand_in(tmp_path / "downloads" / "CBIS-DDSM")
    (tmp_path / "tmp").mkdir()
    env = {
        **os.environ,
        "KERAS_HOME": str(keras_home),
        "PYTHONPATH": os.pathsep.join([str(keras_home), str(ROOT)]),
        "MPLBACKEND": "Agg",
        "TMPDIR": str(tmp_path / "tmp"),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_RUNNER),
            json.dumps([page, textwrap.dedent(spec["setup"]), blocks]),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-4000:])
    ran = [line for line in result.stdout.splitlines() if line.startswith("=== ")]
    assert len(ran) == len(blocks)
