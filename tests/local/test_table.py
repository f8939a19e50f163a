"""Plain-text tables."""

from __future__ import annotations

from cams_local.table import render


def test_columns_align_and_values_read_plainly():
    """GIVEN rows with None, booleans and numbers
    WHEN rendered
    THEN columns line up under a rule, None reads '-', booleans yes/no."""
    text = render(["Id", "Ok", "N"], [["a", True, None], ["bbbb", False, 12]])

    assert text.splitlines() == [
        "  Id    Ok   N",
        "  ----  ---  --",
        "  a     yes  -",
        "  bbbb  no   12",
    ]


def test_long_cells_wrap_within_their_column():
    """GIVEN a message longer than its column's width
    WHEN rendered
    THEN it continues on the next lines, in the same column."""
    text = render(["Id", "Message"], [["a", "one two three four"]], wrap={"Message": 9})

    assert text.splitlines()[2:] == ["  a   one two", "      three", "      four"]
