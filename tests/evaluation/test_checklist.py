"""The reporting checklist names a section, or the authors, for every item,
and every section it links to holds that item's answer.

:func:`assert_checklist_links_answer` reads a whole report; the ``compare``
and ``evaluate`` reports of ``tests/cli`` run it on their real reports.
"""

import re

import pytest

from mammoclf.evaluation import reporting_checklist
from mammoclf.evaluation._checklist import (
    CHECKLIST_ITEMS,
    CHECKLIST_SECTIONS,
    FOR_THE_AUTHORS,
)
from tests.evaluation.fake_results import fake_comparison, summary_of


def test_every_item_is_answered_by_a_present_section_or_the_authors():
    all_sections = {key for item in CHECKLIST_ITEMS for key in item.sections}
    table = reporting_checklist({key: f"Section {key}" for key in all_sections})
    assert len(table) == len(CHECKLIST_ITEMS)
    for item, where in zip(CHECKLIST_ITEMS, table["answered in"]):
        if item.sections:
            assert where.startswith("Section ")
            assert all(f"Section {key}" in where for key in item.sections)
        else:
            assert where.startswith(FOR_THE_AUTHORS)


def test_missing_sections_are_named_not_hidden():
    table = reporting_checklist({}).set_index("item")
    assert table.loc["Calibration", "answered in"] == "not in this report (calibration)"
    assert table.loc["Ethics and consent", "answered in"] == FOR_THE_AUTHORS


def test_both_checklists_are_cited_and_every_item_belongs_to_one_or_is_cost():
    table = reporting_checklist({})
    assert set(table.columns) >= {"CLAIM 2024", "TRIPOD+AI"}
    neither = table[(table["CLAIM 2024"] == "") & (table["TRIPOD+AI"] == "")]
    assert list(neither["item"]) == ["Computational cost"]


# ----------------------------------------------- every link holds its answer
def report_sections(markdown):
    """``{anchor: text}`` of a report's anchored sections, headings left out."""
    sections = {}
    parts = re.split(r'^<a id="([\w-]+)"></a>\s*$', markdown, flags=re.MULTILINE)
    for anchor, body in zip(parts[1::2], parts[2::2]):
        lines = body.strip().splitlines()
        assert lines and lines[0].startswith("## "), anchor
        # Up to the next section heading, anchored or not.
        rest = "\n".join(lines[1:])
        sections[anchor] = re.split(r"^## ", rest, flags=re.MULTILINE)[0]
    return sections


def _checklist_rows(markdown):
    """``(item, answered in)`` of the report's checklist table."""
    table = report_sections(markdown)["checklist"]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in rows[0].strip("|").split(" | ")]
    assert header[0] == "item" and header[-1] == "answered in", header
    cells = [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[1:]]
    return [(row[0], row[-1]) for row in cells]


def _answers(item, anchor):
    """The keys of ``item.sections`` that the section at ``anchor`` stands for."""
    stands_for = CHECKLIST_SECTIONS.get(anchor, (anchor,))
    return [key for key in item.sections if key in stands_for]


def assert_checklist_links_answer(markdown):
    """Every section a report's checklist links to holds its item's keywords."""
    sections = report_sections(markdown)
    items = {item.topic: item for item in CHECKLIST_ITEMS}
    rows = _checklist_rows(markdown)
    assert [topic for topic, _ in rows] == list(items)
    n_links = 0
    for topic, where in rows:
        item = items[topic]
        for anchor in re.findall(r"\]\(#([\w-]+)\)", where):
            assert anchor in sections, f"{topic}: no section #{anchor}"
            keys = _answers(item, anchor)
            assert keys, f"{topic}: #{anchor} answers none of {item.sections}"
            text = sections[anchor].lower()
            for key in keys:
                for keyword in item.keywords[key]:
                    assert any(word.lower() in text for word in keyword.split("|")), (
                        f"{topic}: section #{anchor} does not mention {keyword!r}"
                    )
            n_links += 1
    return n_links


def test_every_linked_section_names_its_keywords():
    for item in CHECKLIST_ITEMS:
        assert set(item.keywords) == set(item.sections), item.topic
        assert all(item.keywords[key] for key in item.sections), item.topic


def test_the_section_parser_reads_anchored_sections_up_to_the_next_heading():
    markdown = (
        '# Title\n\n<a id="data"></a>\n\n## Data\n\n- 20 images\n\n## Figures\n\n'
        'figure\n\n<a id="models"></a>\n\n## Fitted models\n\ntext\n'
    )
    sections = report_sections(markdown)
    assert set(sections) == {"data", "models"}
    assert "20 images" in sections["data"] and "figure" not in sections["data"]
    assert "Fitted models" not in sections["models"]


def test_a_link_to_a_section_without_the_answer_fails():
    """The check itself: a Training row linked to a list of commands is caught."""
    links = {
        "training": "[Fitted models](#training)",
        "environment": "[E](#environment)",
    }
    row = reporting_checklist(links).set_index("item").loc["Training", "answered in"]
    markdown = (
        '<a id="training"></a>\n\n## Fitted models\n\n- `mammoclf predict x`\n\n'
        '<a id="environment"></a>\n\n## Env\n\npython: 3.11\nkeras: 3\n\n'
        '<a id="checklist"></a>\n\n## Checklist\n\n'
        "| item | answered in |\n|---|---|\n"
        + "".join(
            f"| {item.topic} | {row if item.topic == 'Training' else ''} |\n"
            for item in CHECKLIST_ITEMS
        )
    )
    with pytest.raises(AssertionError, match="does not mention 'optimiser'"):
        assert_checklist_links_answer(markdown)


def test_checklist_links_to_the_sections_that_answer_each_item():
    comparison = fake_comparison()
    summary = summary_of(
        comparison,
        calibration=True,
        subgroups=(),
        breast_level=None,
        checklist=True,
        report_sections={"grad_cam": "[Grad-CAM](#grad_cam)"},
    )
    assert summary.tables[-1].key == "checklist"
    answered = summary.table("checklist").data.set_index("item")["answered in"]
    assert answered["Calibration"] == "[Calibration (cross-validation)](#calibration)"
    assert answered["Explainability and failure analysis"] == "[Grad-CAM](#grad_cam)"
    assert answered["Ethics and consent"] == "for the authors to state"
    plain = summary_of(
        comparison, subgroups=(), breast_level=None, checklist=True
    ).table("checklist")
    assert plain.data.set_index("item").loc["Calibration", "answered in"] == (
        "not in this report (calibration)"
    )
