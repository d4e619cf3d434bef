"""The ``mammoclf`` console command: argument parsing, exit codes, one-line errors."""

import argparse
import logging
import sys

from mammoclf._version import __version__
from mammoclf.cli._common import (
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_WEIGHTS,
    UsageError,
    import_keras_quietly,
    one_line,
    print_error,
)
from mammoclf.cli._data import (
    add_cache_options,
    add_clear_cache_command,
    add_source_options,
)
from mammoclf.cli._evaluate import add_evaluate_command
from mammoclf.cli._evaluation_data import add_evaluation_table_options

__all__ = [
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_WEIGHTS",
    "UsageError",
    "build_parser",
    "import_keras_quietly",
    "main",
]

_EPILOG = """exit codes:
  0    success
  1    internal error (a bug: please report it with the traceback)
  2    bad arguments or input data (the message says which and what to do)
  3    ImageNet weights requested but unavailable (see --weights)
  130  interrupted"""


def build_parser():
    """The argument parser of ``mammoclf`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="mammoclf",
        description="Honest benign/malignant mammogram classification experiments.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"mammoclf {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_compare(commands)
    _add_predict(commands)
    add_evaluate_command(commands, _EPILOG)
    add_clear_cache_command(commands)
    return parser


def _add_compare(commands):
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
    _add_data_options(
        compare.add_argument_group("data (default: synthetic mammograms)")
    )
    _add_training_options(compare.add_argument_group("training"))
    _add_evaluation_options(compare.add_argument_group("evaluation"))
    _add_output_options(compare.add_argument_group("output"))
    add_cache_options(compare)


def _add_data_options(data):
    add_source_options(
        data,
        required=False,
        csv_help="CSV with columns path,label,patient (paths relative to the CSV)",
        split_default="all",
        split_help="CBIS-DDSM official split to use",
    )
    data.add_argument(
        "--n-samples",
        type=_positive_int,
        default=480,
        help="synthetic data: number of images (default: 480, 240 patients; "
        "fewer and the CNN from scratch does not learn the lesion shapes within "
        "the demo's epochs)",
    )
    data.add_argument(
        "--difficulty",
        type=_unit_interval,
        default=0.0,
        help="synthetic data: difficulty in [0, 1] (default: 0.0, lesion shapes "
        "a reader tells apart at a glance; 0.5 makes them overlap)",
    )


def _add_training_options(training):
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
        "the CNN 10, each DenseNet stage 2 on synthetic data; "
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
        help="backbone initialisation: ImageNet (default), none (random), a "
        "local weights file (one backbone), or a folder holding each backbone's "
        "Keras weights file",
    )
    training.add_argument(
        "--models",
        default="scratch,frozen,partial",
        help="comma-separated subset of scratch,frozen,partial (the study's "
        "DenseNet121), and BACKBONE:SCHEDULE models such as resnet50:partial or "
        "efficientnetb0:frozen",
    )


def _add_evaluation_options(evaluation):
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
        "--official-test-split",
        action="store_true",
        help="--cbis-ddsm: cross-validate on the official train split only, then "
        "refit each model on the whole train split and evaluate it once on the "
        "official test split (reported apart; a patient in both is refused)",
    )
    add_evaluation_table_options(evaluation)
    evaluation.add_argument(
        "--random-state",
        type=_seed,
        default=0,
        help="seed of folds, augmentation and training (default: 0)",
    )


def _add_output_options(output):
    output.add_argument(
        "--out",
        default="mammoclf-report",
        help="report folder (default: ./mammoclf-report); an interrupted or "
        "failed run into it resumes from its finished fits",
    )
    output.add_argument(
        "--no-refit",
        action="store_true",
        help="skip refitting the final models on all data",
    )
    output.add_argument(
        "--n-jobs",
        type=_n_jobs,
        default=1,
        help="models fitted in parallel processes (default: 1; -1: one per core)",
    )
    output.add_argument(
        "--decode-jobs",
        type=int,
        default=-1,
        help="processes decoding images, each holding one full-resolution "
        "image at a time (default: -1, all cores)",
    )
    _add_identifier_options(output, "show real patient IDs instead of pseudonyms")
    output.add_argument("--quiet", action="store_true", help="no progress output")


def _add_identifier_options(group, reveal_help):
    group.add_argument("--reveal-identifiers", action="store_true", help=reveal_help)
    group.add_argument(
        "--salt-file",
        metavar="FILE",
        help="secret key of the pseudonyms, so that a patient keeps the same "
        "pseudonym across runs; created with a random key if missing (keep it "
        "private). Default: a new random key per run",
    )


def _add_predict(commands):
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
    _add_identifier_options(predict, "write real patient IDs instead of pseudonyms")
    predict.add_argument(
        "--n-jobs",
        type=_n_jobs,
        default=-1,
        help="parallel decoding processes (default: -1, all cores)",
    )
    add_cache_options(predict)


def main(argv=None):
    """Run the ``mammoclf`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_INPUT
    # TensorFlow's Python retracing notices drown a command's own output;
    # real problems still surface as errors. (Its C++ start-up lines are
    # hidden by the quiet Keras import, see mammoclf.utils._quiet.)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from mammoclf.exceptions import MammoclfError, WeightsUnavailableError

    try:
        if args.command == "compare":
            from mammoclf.cli._compare import run_compare

            run_compare(args)
        elif args.command == "evaluate":
            from mammoclf.cli._evaluate import run_evaluate

            run_evaluate(args)
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
        print_error(str(exc))
        return EXIT_WEIGHTS
    except (
        UsageError,
        MammoclfError,
        FileNotFoundError,
        NotADirectoryError,
        IsADirectoryError,
        PermissionError,
    ) as exc:
        print_error(one_line(exc))
        return EXIT_INPUT
    return EXIT_OK


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


def _unit_interval(text):
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _n_jobs(text):
    value = int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be a positive number or -1 (all cores)")
    return value


def _seed(text):
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**32 - 1], got {text}")
    return value
