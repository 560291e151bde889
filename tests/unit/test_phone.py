import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.core.errors import DomainError
from siyu.core.phone import mask_phone, normalise_phone


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13812341234", "+8613812341234"),
        ("+86 138-1234-1234", "+8613812341234"),
        ("0086 138 1234 1234", "+8613812341234"),
        ("86-13812341234", "+8613812341234"),
        ("(021) 6123 4567", "+862161234567"),
        ("+1 415 555 2671", "+14155552671"),
    ],
)
def test_normalises_common_writings_to_e164(raw: str, e164: str) -> None:
    assert normalise_phone(raw) == e164


@pytest.mark.parametrize(
    "raw", ["", "12345", "1381234123", "138123412345", "abc13812341234", "+86 12012341234"]
)
def test_refuses_malformed_numbers(raw: str) -> None:
    with pytest.raises(DomainError) as info:
        normalise_phone(raw)
    assert info.value.code == "invalid_phone"
    assert info.value.status == 422


def test_masks_as_138_stars_1234() -> None:
    assert mask_phone("+8613812341234") == "138****1234"
    assert mask_phone("+14155552671") == "415***2671"
    assert mask_phone(None) is None


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_mobile_fast_path_agrees_with_libphonenumber(number: str) -> None:
    try:
        expected = phonenumbers.is_valid_number(phonenumbers.parse(number, "CN"))
    except phonenumbers.NumberParseException:  # e.g. 17911… reads as a dialling prefix: too short
        expected = False
    try:
        assert normalise_phone(number) == "+86" + number
        assert expected, f"{number} accepted but libphonenumber says invalid"
    except DomainError:
        assert not expected, f"{number} refused but libphonenumber says valid"
