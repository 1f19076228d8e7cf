import pytest

from advisor.units import SizeError, format_bytes, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24GB", 24 * 10**9),
        ("24GiB", 24 * 2**30),
        ("16 gib", 16 * 2**30),
        ("512MiB", 512 * 2**20),
        ("1.5TB", 1_500_000_000_000),
        ("24G", 24 * 10**9),
        ("24", 24 * 10**9),
        (8, 8 * 10**9),
        ("0.5 GB", 500_000_000),
    ],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["24XB", "-3GB", "0", "0GiB", "", "GB", "24 G B", "abc"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(SizeError):
        parse_size(text)


def test_format_bytes_names_its_unit() -> None:
    assert format_bytes(24 * 2**30, "GiB") == "24.00 GiB"
    assert format_bytes(24 * 2**30, "GB") == "25.77 GB"
    assert format_bytes(10**9, "gb") == "1.00 GB"
