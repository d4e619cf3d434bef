"""A reporting checklist for a classification study: CLAIM 2024 and TRIPOD+AI.

Reviewers of radiology-AI papers check them against two checklists:

- CLAIM 2024: Tejani AS, Klontzas ME, Gatti AA, et al. "Checklist for
  Artificial Intelligence in Medical Imaging (CLAIM): 2024 Update."
  *Radiology: Artificial Intelligence* 2024;6(4):e240300.
- TRIPOD+AI: Collins GS, Moons KGM, Dhiman P, et al. "TRIPOD+AI statement:
  updated guidance for reporting clinical prediction models that use
  regression or machine learning methods." *BMJ* 2024;385:e078378.

The items below are the ones that apply to a benign-versus-malignant image
classification study, written in our own words and grouped by topic (the
checklists' numbering differs between their versions; consult them for the
exact wording). Each names the report sections that answer it, or says that
only the authors can state it: mammoclf cannot know how ethics approval was
obtained or who drew the reference standard.

An item may point only to a section that holds its answer: each names, per
section, the words a reader finds there (``keywords``), and the tests read
every linked section of a real ``compare`` and ``evaluate`` report for them.
How a model was built, preprocessed and trained is in the report's
"Training and preprocessing" section (:func:`~mammoclf.evaluation.training_details`).
:func:`checklist_table` is the summary's checklist table (the last builder
of :data:`~mammoclf.evaluation.SUMMARY_TABLES`), linked to the tables before
it through :data:`CHECKLIST_SECTIONS` and to the report's own sections.

Where the two checklists ask for an item, as we read their item lists:
CLAIM 2024's model items ask for the architecture, its initialisation,
the software and the training details (augmentation, hyperparameters);
TRIPOD+AI asks for data preparation (item 7), the model-building procedure
(12c), class imbalance (13) and fairness (14). Neither has an item of its
own for computational cost (training time, memory); we leave it unticked
for both, and say so in its requirement. Check the published lists: the
ticks here are our reading, not the checklists' words.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from mammoclf.evaluation._summary import SummaryTable
from mammoclf.utils._validation import validate_params

__all__ = [
    "CHECKLIST_ITEMS",
    "CHECKLIST_SECTIONS",
    "ChecklistItem",
    "checklist_table",
    "reporting_checklist",
]

FOR_THE_AUTHORS = "for the authors to state"


@dataclass(frozen=True)
class ChecklistItem:
    """One reporting item, in our words, and where a report answers it.

    Attributes
    ----------
    topic : str
        Short name of the item.
    requirement : str
        What a reader needs to find, paraphrased.
    claim : bool
        Whether CLAIM 2024 asks for it.
    tripod_ai : bool
        Whether TRIPOD+AI asks for it.
    sections : tuple of str
        Keys of the report sections that answer it; empty when only the
        authors can.
    authors_add : str
        What the authors still have to add, if anything.
    keywords : mapping of str to tuple of str
        For each of ``sections``, words its text holds where it answers the
        item (case-insensitive; ``"a|b"``: either): what the tests look for
        in every section a report links.
    """

    topic: str
    requirement: str
    claim: bool
    tripod_ai: bool
    sections: tuple = ()
    authors_add: str = ""
    keywords: Mapping = field(default_factory=dict)


CHECKLIST_ITEMS = (
    ChecklistItem(
        "Data source",
        "Where the images come from, and how cases were selected.",
        True,
        True,
        ("data",),
        "the eligibility criteria and dates of collection",
        keywords={"data": ("data", "images", "patients")},
    ),
    ChecklistItem(
        "Ethics and consent",
        "Ethics approval, consent or its waiver, and data-use agreements.",
        True,
        True,
    ),
    ChecklistItem(
        "De-identification",
        "How patient identity was protected.",
        True,
        False,
        ("data",),
        "how the source data were de-identified before mammoclf read them",
        keywords={"data": ("identifiers",)},
    ),
    ChecklistItem(
        "Reference standard",
        "What defines benign and malignant (e.g. pathology), and who "
        "annotated it with what qualifications.",
        True,
        True,
    ),
    ChecklistItem(
        "Preprocessing",
        "How images were decoded, windowed, resized and augmented.",
        True,
        True,
        ("training",),
        keywords={"training": ("intensity preprocessing", "resizing", "augmentation")},
    ),
    ChecklistItem(
        "Missing data",
        "How unreadable or missing images and labels were handled.",
        True,
        True,
        (),
        "how many cases were excluded and why",
    ),
    ChecklistItem(
        "Sample size",
        "The number of images, patients and cases per class, and why that "
        "number suffices.",
        True,
        True,
        ("data",),
        "the justification of the sample size",
        keywords={"data": ("images", "patients")},
    ),
    ChecklistItem(
        "Partitioning",
        "How data were split into training, validation and test sets, and at "
        "which level (patient), so that no patient is in two sets.",
        True,
        True,
        ("data", "holdout", "training"),
        keywords={
            "data": ("patient",),
            "holdout": ("patients",),
            "training": ("validation",),
        },
    ),
    ChecklistItem(
        "Model",
        "The architecture, its initialisation (e.g. ImageNet weights) and "
        "which layers were trained when.",
        True,
        True,
        ("training",),
        keywords={"training": ("architecture", "initial weights", "trainable layers")},
    ),
    ChecklistItem(
        "Training",
        "Optimiser, learning rate per stage, epochs, batch size, early "
        "stopping, class weighting or resampling, and software versions, "
        "enough to reproduce the fit.",
        True,
        True,
        ("training", "environment"),
        keywords={
            "training": (
                "optimiser",
                "learning rate",
                "epochs",
                "batch size",
                "early stopping",
                "class weighting",
            ),
            "environment": ("python", "keras"),
        },
    ),
    ChecklistItem(
        "Performance with uncertainty",
        "Discrimination metrics with confidence intervals at the level of "
        "the unit of analysis.",
        True,
        True,
        ("scores", "breast"),
        keywords={"scores": ("interval|CI",), "breast": ("interval|CI", "breast")},
    ),
    ChecklistItem(
        "Model comparison",
        "Statistical tests used to compare models, and why they suit paired, "
        "clustered data.",
        True,
        False,
        ("tests",),
        keywords={"tests": ("test", "paired|clustered")},
    ),
    ChecklistItem(
        "Calibration",
        "How well predicted probabilities match observed frequencies.",
        False,
        True,
        ("calibration",),
        keywords={"calibration": ("calibration", "interval")},
    ),
    ChecklistItem(
        "Operating point",
        "The threshold behind every sensitivity and specificity, chosen "
        "without the test data.",
        True,
        True,
        ("operating_points",),
        keywords={"operating_points": ("threshold",)},
    ),
    ChecklistItem(
        "Held-out and external test",
        "Performance on data not used for model development, ideally from "
        "another site.",
        True,
        True,
        ("holdout",),
        "whether the test data come from another site or period",
        keywords={"holdout": ("held-out",)},
    ),
    ChecklistItem(
        "Subgroups and fairness",
        "Performance across clinically relevant groups (breast density, "
        "lesion type) and any groups at risk of worse performance.",
        True,
        True,
        ("subgroups",),
        "demographic subgroups, which mammoclf does not see",
        keywords={"subgroups": ("subgroup",)},
    ),
    ChecklistItem(
        "Explainability and failure analysis",
        "What the model attends to, whether that is the lesion, and where it fails.",
        True,
        False,
        ("grad_cam",),
        keywords={"grad_cam": ("grad-cam", "false negatives|false positives")},
    ),
    ChecklistItem(
        "Computational cost",
        "Training time and memory, so others can plan a replication. Neither "
        "checklist has an item of its own for it as far as we read them (we "
        "may be wrong: check the published lists).",
        False,
        False,
        ("compute",),
        keywords={"compute": ("time", "memory")},
    ),
    ChecklistItem(
        "Intended use and limitations",
        "The clinical role the model is meant for, and the study's limitations.",
        True,
        True,
    ),
    ChecklistItem(
        "Code and data availability",
        "Where code, trained models and data can be obtained.",
        True,
        True,
        ("models", "environment"),
        "public links to code and data",
        keywords={"models": ("mammoclf|not refitted",), "environment": ("mammoclf",)},
    ),
    ChecklistItem(
        "Funding and conflicts",
        "Sources of funding and competing interests.",
        True,
        True,
    ),
)


@validate_params(
    {"sections": [dict, Mapping]},  # dict first: an abstract Mapping has no instance
    prefer_skip_nested_validation=True,
)
def reporting_checklist(sections):
    """Tabulate where a report answers each CLAIM 2024 / TRIPOD+AI item.

    Parameters
    ----------
    sections : mapping of str to str
        The sections the report contains: key (``"scores"``,
        ``"calibration"``, ...) to the heading the reader will find.

    Returns
    -------
    table : pandas.DataFrame
        Columns ``item``, ``requirement``, ``CLAIM 2024``, ``TRIPOD+AI``
        and ``answered in``. An item whose sections are all missing from
        the report says what would answer it, or that the authors must
        state it.

    Examples
    --------
    >>> from mammoclf.evaluation import reporting_checklist
    >>> table = reporting_checklist({"scores": "Scores", "data": "Data"})
    >>> table.set_index("item").loc["Ethics and consent", "answered in"]
    'for the authors to state'
    >>> table.set_index("item").loc["Calibration", "answered in"]
    'not in this report (calibration)'
    """
    rows = []
    for item in CHECKLIST_ITEMS:
        found = [sections[key] for key in item.sections if key in sections]
        if found:
            where = "; ".join(found)
            if item.authors_add:
                where += f" (authors add {item.authors_add})"
        elif item.sections:
            where = f"not in this report ({', '.join(item.sections)})"
        else:
            where = FOR_THE_AUTHORS
            if item.authors_add:
                where += f": {item.authors_add}"
        rows.append(
            {
                "item": item.topic,
                "requirement": item.requirement,
                "CLAIM 2024": "yes" if item.claim else "",
                "TRIPOD+AI": "yes" if item.tripod_ai else "",
                "answered in": where,
            }
        )
    return pd.DataFrame(rows)


#: The reporting-checklist sections (see ``reporting_checklist``) each table answers.
CHECKLIST_SECTIONS = {
    "training": ("training",),
    "metrics": ("scores",),
    "pairwise_tests": ("tests",),
    "omnibus_tests": ("tests",),
    "thresholds": ("operating_points",),
    "calibration": ("calibration",),
    "operating_points": ("operating_points",),
    "breast": ("breast",),
    "subgroups": ("subgroups",),
    "holdout": ("holdout", "scores"),
    "holdout_calibration": ("calibration",),
    "holdout_operating_points": ("operating_points",),
    "holdout_breast": ("breast",),
    "holdout_subgroups": ("subgroups",),
    "compute": ("compute",),
}


def _section_text(table, options):
    return f"[{table.title}](#{table.key})" if options.link_sections else table.title


def checklist_table(inputs, options):
    """Where this summary (and its report) answers each CLAIM / TRIPOD+AI item."""
    if not options.checklist:
        return None
    sections = {}
    for table in options.previous_tables:
        for section in CHECKLIST_SECTIONS.get(table.key, ()):
            sections.setdefault(section, []).append(_section_text(table, options))
    for section, text in options.report_sections.items():
        sections.setdefault(section, []).insert(0, text)
    # A report's own section and a table of the summary may be one and the
    # same (the training table under its report heading): named once.
    table = reporting_checklist(
        {key: "; ".join(dict.fromkeys(texts)) for key, texts in sections.items()}
    )
    return SummaryTable(
        title="Reporting checklist (CLAIM 2024, TRIPOD+AI)",
        caption=(
            "Items of CLAIM 2024 (Tejani et al., Radiology: Artificial Intelligence "
            "2024;6(4):e240300) and TRIPOD+AI (Collins et al., BMJ 2024;385:e078378) "
            "that apply to a classification study, in our words, with where this "
            "report answers them or what the authors must state themselves."
        ),
        data=table,
        display=table,
    )
