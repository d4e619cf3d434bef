"""The report lays out the summary's evaluation tables, figures and checklist."""

import re
import warnings

import matplotlib

from mammoclf.evaluation import SummaryOptions, summarize
from mammoclf.evaluation._report import REPORT_HEADINGS, Report, section_links
from mammoclf.evaluation._report_sections import add_summary_tables, checklist_section
from tests.evaluation.fake_results import fake_comparison, fake_holdout

matplotlib.use("Agg")


def test_report_has_anchored_sections_the_checklist_links_to(tmp_path):
    result = fake_comparison().with_holdout(fake_holdout())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = summarize(
            result,
            SummaryOptions(
                tests=(),
                calibration=True,
                subgroups=(),
                breast_level=None,
                n_resamples=10,
                checklist=True,
                report_sections=section_links(["grad_cam"]),
            ),
        )
    (tmp_path / "figures").mkdir()
    (tmp_path / "tables").mkdir()
    report = Report("test report")
    add_summary_tables(report, summary, tmp_path)
    report.heading(REPORT_HEADINGS["grad_cam"], anchor="grad_cam")
    checklist_section(summary)(report, tmp_path)
    report.write(tmp_path)
    markdown = (tmp_path / "report.md").read_text()
    anchors = set(re.findall(r'<a id="([\w-]+)"></a>', markdown))
    links = set(re.findall(r"\]\(#([\w-]+)\)", markdown))
    assert {"calibration", "holdout", "holdout_calibration", "grad_cam"} <= links
    assert links <= anchors  # every link of the checklist lands somewhere
    # The checklist is the last section; cross-validated and held-out apart.
    headings = re.findall(r"^## (.+)$", markdown, flags=re.MULTILINE)
    assert headings[-1].startswith("Reporting checklist")
    assert headings.index("Calibration (cross-validation)") < headings.index(
        "Held-out test set: classification performance"
    )
    for key in ("calibration", "holdout_calibration"):
        assert (tmp_path / "figures" / f"reliability_{key}.png").stat().st_size > 0
        assert (tmp_path / "tables" / f"{key}.csv").is_file()
    assert (tmp_path / "tables" / "checklist.csv").is_file()
    html = (tmp_path / "report.html").read_text()
    assert '<h2 id="calibration">' in html
    assert '<a href="#calibration">Calibration (cross-validation)</a>' in html
