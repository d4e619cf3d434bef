"""Parameter validation of every public function, as scikit-learn checks its own.

Every function in the ``__all__`` of a mammoclf subpackage validates its
parameters with :func:`mammoclf.utils._validation.validate_params` (scikit-learn's
decorator, except that errors raised inside keep naming their source). Each
is called here with a value of the wrong type, and with a value of the right
type outside the allowed ones, for every parameter, and must raise
``InvalidParameterError`` naming the parameter and the function (the approach
of scikit-learn's ``sklearn/tests/test_public_functions.py``).
"""

import importlib
import inspect
from numbers import Integral, Real

import numpy as np
import pytest
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    generate_invalid_param_val,
    generate_valid_param,
    make_constraint,
)

import mammoclf
from mammoclf import DicomLoader, ScratchCNNClassifier
from mammoclf.utils import _validation

# Public subpackages and modules whose functions are checked: all of them but
# the command line, whose contract is argparse's (usage message, exit 2).
NOT_CHECKED = {"mammoclf.cli": "console entry point: argparse validates argv"}
MODULES = sorted(
    f"mammoclf.{name}"
    for name in mammoclf.__all__
    if inspect.ismodule(getattr(mammoclf, name))
    and f"mammoclf.{name}" not in NOT_CHECKED
)


def _public_functions():
    functions = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            value = getattr(module, name)
            if inspect.isfunction(value):
                functions[f"{module_name}.{name}"] = value
    return functions


PUBLIC_FUNCTIONS = _public_functions()


def _parameters(func):
    signature = inspect.signature(func)
    names = [
        p.name
        for p in signature.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    required = [
        p.name
        for p in signature.parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    return names, required


def test_the_functions_are_found():
    assert len(PUBLIC_FUNCTIONS) >= 40, sorted(PUBLIC_FUNCTIONS)
    for expected in (
        "mammoclf.model_selection.compare_models",
        "mammoclf.stats.bootstrap_ci",
        "mammoclf.inspection.grad_cam",
        "mammoclf.metrics.sensitivity_score",
        "mammoclf.datasets.scan",
    ):
        assert expected in PUBLIC_FUNCTIONS


@pytest.mark.parametrize("path", sorted(PUBLIC_FUNCTIONS))
def test_validated_by_mammoclf_validate_params(path):
    """Decorated, by the decorator that lets errors from inside keep their name."""
    func = PUBLIC_FUNCTIONS[path]
    assert hasattr(func, "_skl_parameter_constraints"), (
        f"{path} has no @validate_params"
    )
    assert func.__code__.co_filename == _validation.__file__, (
        f"{path} uses scikit-learn's validate_params, which renames the errors of "
        "the estimators it calls; use mammoclf.utils._validation.validate_params"
    )
    names, _ = _parameters(func)
    constrained = set(func._skl_parameter_constraints)
    assert constrained == set(names), (
        f"{path}: parameters without constraints {set(names) - constrained}, "
        f"constraints of no parameter {constrained - set(names)}"
    )


@pytest.mark.parametrize("path", sorted(PUBLIC_FUNCTIONS))
def test_invalid_parameters_raise_an_informative_error(path):
    func = PUBLIC_FUNCTIONS[path]
    constraints = func._skl_parameter_constraints
    names, required = _parameters(func)
    valid_required = {
        name: 1
        if constraints[name] == "no_validation"
        else generate_valid_param(make_constraint(constraints[name][0]))
        for name in required
    }
    bad_type = type("BadType", (), {})()
    checked = 0
    for name in names:
        if constraints[name] == "no_validation":
            continue
        assert not (
            any(
                isinstance(c, Interval) and c.type is Integral
                for c in constraints[name]
            )
            and any(
                isinstance(c, Interval) and c.type is Real for c in constraints[name]
            )
        ), f"{path}: {name} mixes Integral and Real intervals; use RealNotInt"
        match = (
            rf"The '{name}' parameter of {func.__qualname__} must be .* Got .* instead."
        )
        with pytest.raises(InvalidParameterError, match=match):
            func(**{**valid_required, name: bad_type})
        for constraint in map(make_constraint, constraints[name]):
            try:
                bad_value = generate_invalid_param_val(constraint)
            except NotImplementedError:
                continue
            with pytest.raises(InvalidParameterError, match=match):
                func(**{**valid_required, name: bad_value})
        checked += 1
    if checked == 0:
        # Every parameter is "no_validation": each must say why in the source.
        source = inspect.getsource(inspect.getmodule(func))
        assert source.count('"no_validation"') > 0


# ------------------------------------------------------- errors from inside
@pytest.fixture
def tiny_comparison_data():
    rng = np.random.default_rng(0)
    X = rng.random((8, 8, 8), dtype=np.float32)
    y = np.array(["BENIGN", "MALIGNANT"] * 4)
    groups = np.repeat(np.arange(4), 2)
    return X, y, groups


def test_an_estimator_error_inside_compare_models_names_the_estimator(
    tiny_comparison_data,
):
    """scikit-learn's decorator said 'The 'pooling' parameter of compare_models'."""
    X, y, groups = tiny_comparison_data
    with pytest.raises(
        InvalidParameterError,
        match="The 'pooling' parameter of ScratchCNNClassifier must be",
    ):
        mammoclf.compare_models(
            {"cnn": ScratchCNNClassifier(pooling="global")},
            X,
            y,
            groups=groups,
            cv=2,
            measure_memory=False,
        )


def test_a_loader_error_inside_scan_names_the_loader(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"not read: the loader is refused first")
    with pytest.raises(
        InvalidParameterError,
        match="The 'chest_wall_side' parameter of DicomLoader must be",
    ):
        mammoclf.datasets.scan([path], loader=DicomLoader(chest_wall_side="up"))


def test_the_function_own_errors_still_name_the_function():
    with pytest.raises(
        InvalidParameterError,
        match="The 'loader' parameter of scan must be",
    ):
        mammoclf.datasets.scan(["a.dcm"], loader="DicomLoader")
