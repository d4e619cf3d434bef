"""Grad-CAM in the reports: the example panels and the explainers behind them.

Both reports explain images through an *explainer*, ``explain(rows,
label)``, which returns the Grad-CAM maps of ``images[rows]`` for class
``label`` (None: each image's predicted class). In ``compare`` it asks the
cross-validation model that held out each image's patient; in
``evaluate``, the saved model. The same explainers draw the panels of the
most confident hits and mistakes here, and score the maps against lesion
masks in ``_report_localization``.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from mammoclf.evaluation._report import REPORT_HEADINGS, save_figure

__all__ = [
    "N_GRAD_CAM_CASES",
    "add_grad_cam_section",
    "fold_model_explainer",
    "grad_cam_cases",
    "grad_cam_section",
    "saved_model_explainer",
]

#: Images per model in the Grad-CAM panels (a quarter of each kind).
N_GRAD_CAM_CASES = 4


def fold_model_explainer(result, name, images):
    """``explain(rows, label)`` by the cross-validation model that held out each row."""
    from mammoclf.inspection import grad_cam

    folds = result.fold_ids[0]  # by image; -1: in no test fold of repeat 0
    split_of_fold = {
        s.fold: index for index, s in enumerate(result.splits) if s.repeat == 0
    }

    def explain(rows, label=None):
        rows = np.asarray(rows)
        if (folds[rows] < 0).any():
            raise ValueError(
                f"{int((folds[rows] < 0).sum())} image(s) are in no test fold, so "
                f"every model of {name!r} saw them: none can explain them honestly."
            )
        maps = np.zeros((rows.size, *images.shape[1:3]), dtype=np.float32)
        for fold in np.unique(folds[rows]):  # one Grad-CAM call per fold model
            chosen = folds[rows] == fold
            model = result.estimators[name][split_of_fold[fold]]
            maps[chosen] = grad_cam(
                _final_classifier(model),
                images[rows[chosen]],
                target=label,
                batch_size=64,
            )
        return maps

    return explain


def saved_model_explainer(estimator, images):
    """``explain(rows, label)`` by one fitted model (a saved one, in ``evaluate``)."""
    from mammoclf.inspection import grad_cam

    classifier = _final_classifier(estimator)

    def explain(rows, label=None):
        return grad_cam(
            classifier, images[np.asarray(rows)], target=label, batch_size=64
        )

    return explain


def _final_classifier(model):
    return model.steps[-1][1] if hasattr(model, "steps") else model


def grad_cam_cases(table, pos_label, n_cases):
    """The most confident hits and mistakes of each kind: TP, TN, then FN, FP.

    ``table`` has ``y_true``, ``y_pred`` and ``y_score`` per image; up to
    ``n_cases // 2`` of each kind are chosen. Returns the correct rows and
    the chosen index labels.
    """
    is_positive = table["y_true"] == pos_label
    is_correct = table["y_pred"] == table["y_true"]
    per_kind = n_cases // 2
    picks = [
        table[is_correct & is_positive].nlargest(per_kind, "y_score"),
        table[is_correct & ~is_positive].nsmallest(per_kind, "y_score"),
        table[~is_correct & is_positive].nsmallest(per_kind, "y_score"),
        table[~is_correct & ~is_positive].nlargest(per_kind, "y_score"),
    ]
    chosen = [sample for pick in picks for sample in pick.index]
    return table[is_correct], chosen


def add_grad_cam_section(
    report, panels, *, intro, images, patients, pos_label, out_dir, log
):
    """The report's Grad-CAM section: ``intro``, then one figure per model.

    Each figure shows Grad-CAM of the model's most confident hits and
    mistakes. ``panels`` holds ``(name, file_key, predictions, explain)``
    per model: ``predictions`` is indexed by image row with ``y_true``,
    ``y_pred`` and ``y_score``; ``explain`` an explainer (see the module
    docstring), asked for each image's predicted class. A model without a
    chosen case (no prediction of any kind) gets no figure.
    """
    import matplotlib.pyplot as plt

    from mammoclf.inspection import GradCAMDisplay

    log("computing Grad-CAM overlays ...")
    report.heading(REPORT_HEADINGS["grad_cam"], anchor="grad_cam")
    report.paragraph(intro)
    for name, file_key, predictions, explain in panels:
        correct, chosen = grad_cam_cases(predictions, pos_label, N_GRAD_CAM_CASES)
        if not chosen:
            continue
        titles = [
            f"{'correct' if row in correct.index else 'WRONG'}: true "
            f"{predictions.loc[row, 'y_true']}\n"
            f"pred {predictions.loc[row, 'y_pred']} "
            f"(p={predictions.loc[row, 'y_score']:.2f})\n"
            f"{str(patients[row])[:13]}"
            for row in chosen
        ]
        display = GradCAMDisplay(
            images[chosen], explain(np.asarray(chosen)), titles=titles
        ).plot(n_cols=N_GRAD_CAM_CASES)
        file_name = f"grad_cam_{file_key}.png"
        save_figure(display.figure_, Path(out_dir) / "figures" / file_name)
        plt.close(display.figure_)
        report.figure(Path("figures") / file_name, f"Grad-CAM of {name}.")


def grad_cam_section(
    predictions, explainers, *, file_keys, intro, images, patients, log
):
    """The Grad-CAM section of a report, as a section of :func:`write_report`.

    ``predictions`` is a :class:`~mammoclf.evaluation.Predictions` whose
    ``sample`` rows index ``images`` and ``patients``; ``explainers`` maps
    each model to its explainer and ``file_keys`` to the figure's file
    name key.
    """

    def section(report, out_dir):
        panels = [
            (name, file_keys[name], _prediction_table(predictions, name), explain)
            for name, explain in explainers.items()
        ]
        add_grad_cam_section(
            report,
            panels,
            intro=intro,
            images=images,
            patients=patients,
            pos_label=predictions.pos_label,
            out_dir=out_dir,
            log=log,
        )

    return section


def _prediction_table(predictions, name):
    """``y_true``, ``y_pred`` and ``y_score`` (NaN: none) of one model, by image row."""
    score = predictions.y_score[name]
    return pd.DataFrame(
        {
            "y_true": predictions.y_true,
            "y_pred": predictions.y_pred[name],
            "y_score": np.full(predictions.y_true.shape[0], np.nan)
            if score is None
            else score,
        },
        index=pd.Index(predictions.sample, name="sample"),
    )
