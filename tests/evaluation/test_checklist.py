"""The reporting checklist names a section, or the authors, for every item."""

from mammoclf.evaluation import reporting_checklist
from mammoclf.evaluation._checklist import CHECKLIST_ITEMS, FOR_THE_AUTHORS


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
