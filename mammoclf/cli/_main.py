"""The ``mammoclf`` console command: argument parsing, exit codes, one-line errors."""

import argparse
import contextlib
import errno
import logging
import re
import signal
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
    n_jobs_argument,
    one_line,
    print_error,
    whole_number,
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
  130  interrupted (Ctrl-C)
  143  stopped by SIGTERM (a job scheduler's stop signal)"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the option.

    argparse prints the whole usage (15 lines for ``compare``) and, for a
    value its type function could not convert, the function's name
    ("invalid _positive_int value"). A user needs the option, what it
    expects and what was given.
    """

    def error(self, message):
        self.exit(EXIT_INPUT, f"{self.prog}: error: {_option_message(message)}\n")


def _option_message(message):
    """argparse's ``argument --epochs: ...`` as ``--epochs: ...``, in words."""
    message = re.sub(r"^argument ", "", " ".join(message.split()))
    converted = re.search(r"invalid (\w+) value: (.*)$", message)
    if converted:  # a type without a message of its own (int, float)
        kind, value = converted.groups()
        expected = {"int": "a whole number", "float": "a number"}.get(kind, "a value")
        message = f"{message[: converted.start()]}expected {expected}, got {value}"
    if message.startswith(("unrecognized arguments", "the following arguments")):
        message += "; see --help"
    return message


def build_parser():
    """The argument parser of ``mammoclf`` and its subcommands."""
    parser = _Parser(
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
        type=n_jobs_argument,
        default=1,
        help="models fitted in parallel processes (default: 1; -1: one per core)",
    )
    output.add_argument(
        "--decode-jobs",
        type=n_jobs_argument,
        default=-1,
        help="processes decoding images, each holding one full-resolution "
        "image at a time (default: -1, all cores)",
    )
    _add_identifier_options(output, "show real patient IDs instead of pseudonyms")
    output.add_argument("--quiet", action="store_true", help="no progress output")
    output.add_argument(
        "--verbose",
        action="store_true",
        help="print the whole summary (every table and note) on the console, not "
        "only Table 1 and the primary test",
    )


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
        "--patient-id",
        choices=("header", "cbis-ddsm"),
        default="header",
        help="the patient column: the DICOM PatientID as written (default), or "
        "its CBIS-DDSM patient number (Mass-Test_P_00016_LEFT_CC gives P_00016), "
        "so that all views of a patient share one pseudonym",
    )
    predict.add_argument(
        "--n-jobs",
        type=n_jobs_argument,
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

    previous_handler = _stop_on_sigterm()
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
    except _Terminated:
        print("mammoclf: stopped by SIGTERM", file=sys.stderr)
        return EXIT_TERMINATED
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
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        print_error(_environment_error(exc))
        return EXIT_INPUT
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
    return EXIT_OK


EXIT_TERMINATED = 128 + signal.SIGTERM
# Errors of the machine, not of mammoclf: a full disk or quota, a read-only
# or forbidden location, too many open files, an I/O error of the device.
_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EMFILE,
    errno.ENFILE,
    errno.EIO,
}


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the run stops at the next safe point."""


def _stop_on_sigterm():
    """Turn SIGTERM into :class:`_Terminated`; returns the previous handler.

    Only the main thread can set handlers: elsewhere nothing changes (None).
    """

    def stop(signum, frame):
        raise _Terminated

    with contextlib.suppress(ValueError):
        return signal.signal(signal.SIGTERM, stop)
    return None


def _environment_error(exc):
    """``<problem>: <path>`` and what to do, in one line."""
    path = exc.filename if exc.filename is not None else "(unknown path)"
    problem = exc.strerror or errno.errorcode.get(exc.errno, str(exc))
    advice = {
        errno.ENOSPC: "free space there or choose another location",
        errno.EDQUOT: "free space there or choose another location",
        errno.EROFS: "choose a writable location",
        errno.EACCES: "check its permissions or choose another location",
        errno.EPERM: "check its permissions or choose another location",
    }.get(exc.errno, "check the machine's resources and rerun")
    return f"{problem}: {path} ({advice})"


def _positive_int(text):
    value = whole_number(text, "a positive whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive whole number, got {text!r}"
        )
    return value


def _at_least_two(text):
    value = whole_number(text, "a whole number of folds, at least 2")
    if value < 2:
        raise argparse.ArgumentTypeError(f"needs at least 2 folds, got {text!r}")
    return value


def _unit_interval(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _seed(text):
    value = whole_number(text, "a whole number in [0, 2**32 - 1]")
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"expected a whole number in [0, 2**32 - 1], got {text!r}"
        )
    return value
