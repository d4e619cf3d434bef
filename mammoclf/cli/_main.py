"""The ``mammoclf`` console command: argument parsing, exit codes, one-line errors."""

import argparse
import logging
import os
import sys

from mammoclf._version import __version__

__all__ = [
    "EXIT_INPUT",
    "EXIT_OK",
    "EXIT_WEIGHTS",
    "UsageError",
    "build_parser",
    "import_keras_quietly",
    "main",
]

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: the traceback is shown
EXIT_INPUT = 2  # a user mistake: bad argument, path, CSV, unreadable data
EXIT_WEIGHTS = 3  # pretrained weights requested but unavailable
EXIT_INTERRUPTED = 130

_EPILOG = """exit codes:
  0    success
  1    internal error (a bug: please report it with the traceback)
  2    bad arguments or input data (the message says which and what to do)
  3    ImageNet weights requested but unavailable (see --weights)
  130  interrupted"""


class UsageError(Exception):
    """A mistake in the command line or its input files, reported in one line."""


def build_parser():
    """The argument parser of ``mammoclf`` and its subcommands."""
    from mammoclf.cli._data import add_cache_options, add_clear_cache_command

    parser = argparse.ArgumentParser(
        prog="mammoclf",
        description="Honest benign/malignant mammogram classification experiments.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"mammoclf {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    compare = commands.add_parser(
        "compare",
        help="cross-validate the study's three models and write a report",
        description=(
            "Reproduce the study's comparison (CNN from scratch vs DenseNet121 "
            "frozen vs DenseNet121 partially unfrozen) on patient-grouped folds, "
            "with augmentation inside training folds only, and write a report. "
            "Without a data option it runs on embedded synthetic mammograms."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = compare.add_argument_group("data (default: synthetic mammograms)")
    source = data.add_mutually_exclusive_group()
    source.add_argument(
        "--cbis-ddsm",
        metavar="ROOT",
        help="CBIS-DDSM download root (TCIA DICOM layout)",
    )
    source.add_argument(
        "--csv",
        metavar="FILE",
        help="CSV with columns path,label,patient (paths relative to the CSV)",
    )
    data.add_argument(
        "--subset",
        choices=("mass", "calc", "both"),
        default="both",
        help="CBIS-DDSM abnormality subset (default: both)",
    )
    data.add_argument(
        "--split",
        choices=("train", "test", "all"),
        default="all",
        help="CBIS-DDSM official split to use (default: all)",
    )
    data.add_argument(
        "--roi",
        action="store_true",
        help="CBIS-DDSM: use the ROI crops instead of full mammograms",
    )
    data.add_argument(
        "--n-samples",
        type=_positive_int,
        default=160,
        help="synthetic data: number of images (default: 160)",
    )
    data.add_argument(
        "--difficulty",
        type=float,
        default=0.5,
        help="synthetic data: difficulty in [0, 1] (default: 0.5)",
    )

    training = compare.add_argument_group("training")
    training.add_argument(
        "--image-size",
        type=_positive_int,
        help="side of the square model input in pixels "
        "(default: 64 for synthetic data, 224 otherwise)",
    )
    training.add_argument(
        "--epochs",
        type=_positive_int,
        help="epochs of every training stage of every model (default: "
        "the CNN 30, each DenseNet stage 8 on synthetic data; "
        "50 and 15 otherwise)",
    )
    training.add_argument(
        "--batch-size",
        type=_positive_int,
        default=16,
        help="images per gradient step (default: 16)",
    )
    training.add_argument(
        "--weights",
        default="imagenet",
        metavar="{imagenet,none,PATH}",
        help="DenseNet initialisation: ImageNet (default), none "
        "(random), or a local weights file",
    )
    training.add_argument(
        "--models",
        default="scratch,frozen,partial",
        help="comma-separated subset of scratch,frozen,partial",
    )

    evaluation = compare.add_argument_group("evaluation")
    evaluation.add_argument(
        "--cv",
        type=_at_least_two,
        default=None,
        help="patient-grouped folds (default: 3 for synthetic data, 5 otherwise)",
    )
    evaluation.add_argument(
        "--repeats",
        type=_positive_int,
        default=1,
        help="repeats of the cross-validation (default: 1)",
    )
    evaluation.add_argument(
        "--random-state",
        type=int,
        default=0,
        help="seed of folds, augmentation and training (default: 0)",
    )

    output = compare.add_argument_group("output")
    output.add_argument(
        "--out",
        default="mammoclf-report",
        help="report folder (default: ./mammoclf-report)",
    )
    output.add_argument(
        "--no-refit",
        action="store_true",
        help="skip refitting the final models on all data",
    )
    output.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="models fitted in parallel processes (default: 1)",
    )
    output.add_argument(
        "--decode-jobs",
        type=int,
        default=-1,
        help="processes decoding images, each holding one full-resolution "
        "image at a time (default: -1, all cores)",
    )
    output.add_argument(
        "--reveal-identifiers",
        action="store_true",
        help="show real patient IDs instead of salted-hash pseudonyms",
    )
    output.add_argument("--quiet", action="store_true", help="no progress output")
    add_cache_options(compare)

    predict = commands.add_parser(
        "predict",
        help="predict new DICOM/image files with a saved model",
        description="Write class probabilities of new files as CSV.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument(
        "model", metavar="MODEL", help="a .mammoclf file from `compare`"
    )
    predict.add_argument(
        "files", metavar="FILES", nargs="+", help="DICOM or image files"
    )
    predict.add_argument(
        "--out", default="-", help="CSV file (default: standard output)"
    )
    predict.add_argument(
        "--reveal-identifiers",
        action="store_true",
        help="write real patient IDs instead of pseudonyms",
    )
    predict.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        help="parallel decoding processes (default: -1, all cores)",
    )
    add_cache_options(predict)
    add_clear_cache_command(commands)
    return parser


def main(argv=None):
    """Run the ``mammoclf`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_INPUT
    # TensorFlow's C++ start-up logging and its Python retracing notices
    # drown a command's own output; real problems still surface as errors.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from mammoclf.exceptions import MammoclfError, WeightsUnavailableError

    try:
        if args.command == "compare":
            from mammoclf.cli._compare import run_compare

            run_compare(args)
        elif args.command == "clear-cache":
            from mammoclf.cli._data import run_clear_cache

            run_clear_cache(args)
        else:
            from mammoclf.cli._predict import run_predict

            run_predict(args)
    except KeyboardInterrupt:
        print("mammoclf: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except WeightsUnavailableError as exc:
        _error(str(exc))
        return EXIT_WEIGHTS
    except (
        UsageError,
        MammoclfError,
        FileNotFoundError,
        NotADirectoryError,
        IsADirectoryError,
        PermissionError,
    ) as exc:
        _error(_one_line(exc))
        return EXIT_INPUT
    return EXIT_OK


def import_keras_quietly():
    """Import Keras with TensorFlow's C++ start-up lines hidden.

    TensorFlow 2.21 writes INFO lines (oneDNN, CUDA probing) through abseil
    before its log level applies, so TF_CPP_MIN_LOG_LEVEL cannot silence
    them. Standard error is redirected for the import only; if the import
    fails, what was written is shown with the error.
    """
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras

            # The first operation probes accelerators (and logs a failed
            # CUDA probe on CPU-only machines): do it here, quietly.
            keras.ops.convert_to_numpy(keras.ops.zeros(1))
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _error(message):
    print(f"mammoclf: error: {message}", file=sys.stderr)


def _one_line(exc):
    text = str(exc) or type(exc).__name__
    if isinstance(exc, (FileNotFoundError, PermissionError)) and exc.filename:
        text = f"{exc.strerror or text}: {exc.filename}"
    return " ".join(text.split())


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _at_least_two(text):
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"needs at least 2 folds, got {text}")
    return value
