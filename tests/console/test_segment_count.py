"""The segment builder's live count: an estimated preview (a large audience) reads "About N (low-high)",
an exact one the count alone."""

from crm_console.render import TEMPLATES

FRAGMENT = TEMPLATES.env.get_template("fragments/segment_count.html")


def test_an_estimate_shows_about_and_its_interval() -> None:
    preview = {"count": 48000, "count_exact": False, "count_low": 45356, "count_high": 50759, "sample_size": 25000}
    html = FRAGMENT.render(preview=preview)
    assert html.startswith('About <strong data-field="segment-count">48,000</strong> customers match now')
    assert '<span data-field="segment-count-range"' in html
    assert "(45,356&ndash;50,759)" in html
    assert "random sample of 25,000 customers" in html


def test_an_exact_count_shows_the_count_alone() -> None:
    for preview in ({"count": 12, "count_exact": True, "count_low": 12, "count_high": 12}, {"count": 12}):
        html = FRAGMENT.render(preview=preview)
        assert html == '<strong data-field="segment-count">12</strong> customers match now.'
