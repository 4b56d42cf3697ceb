"""Numbers in the book's tables: plain decimals, four significant digits, every row."""

import pytest

from modularity.tables import format_number, metrics_table


@pytest.mark.parametrize("value, shown", [
    (0.0001, "0.0001"), (0.89341, "0.8934"), (12.3456, "12.35"), (999.94, "999.9"), (1234.4, "1,234"), (3, "3"),
    (12000, "12,000"), (1e-7, "1.000e-07"), (0.0, "0"), (2.0, "2"), (True, "True"), ("partly", "partly"),
])
def test_book_numbers_are_plain_decimals_with_four_significant_digits(value, shown):
    assert format_number(value) == shown


def test_the_metrics_table_keeps_every_row():
    metrics = {f"m{i}": i / 7 for i in range(200)}
    html = metrics_table(metrics).to_html()
    assert html.count("<tr>") == 201 and "m199" in html and "28.43" in html
