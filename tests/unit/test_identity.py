import pytest

from siyu.core.errors import DomainError
from siyu.customers.identity import normalise_identity

APP = "wx49f0ab532d5d035a"


@pytest.mark.parametrize(
    ("type_", "value", "namespace", "expected"),
    [
        (
            "wechat_unionid",
            " o6_bmasdasdsad6_2sgVt7hMZOPfL ",
            None,
            ("wechat_unionid", "", "o6_bmasdasdsad6_2sgVt7hMZOPfL"),
        ),
        (
            "wechat_openid",
            "oLVPpjqs9BhvzwPj5A-vTYAX3GLc",
            APP,
            ("wechat_openid", APP, "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"),
        ),
        (
            "wecom_external_userid",
            "wmqfasd1e1927831123109rBAAAA",
            None,
            ("wecom_external_userid", "", "wmqfasd1e1927831123109rBAAAA"),
        ),
        ("phone", "138 1234 1234", None, ("phone", "", "+8613812341234")),
        ("member_card", "MS0000000001", None, ("member_card", "", "MS0000000001")),
        ("pos_customer_id", "POS-12-99", None, ("pos_customer_id", "", "POS-12-99")),
        ("platform_buyer_id", "tb_8823", "Tmall", ("platform_buyer_id", "tmall", "tb_8823")),
    ],
)
def test_valid_identities_normalise(
    type_: str, value: str, namespace: str | None, expected: tuple[str, str, str]
) -> None:
    assert normalise_identity(type_, value, namespace) == expected


@pytest.mark.parametrize(
    ("type_", "value", "namespace", "code"),
    [
        ("wechat_unionid", "short", None, "invalid_identity"),
        ("wechat_unionid", "o6_bmasdasdsad6 2sgVt7hMZOPfL", None, "invalid_identity"),
        ("wechat_unionid", "o6_bmasdasdsad6_2sgVt7hMZOPfL", APP, "invalid_identity"),
        ("wechat_openid", "oLVPpjqs9BhvzwPj5A-vTYAX3GLc", None, "invalid_identity"),
        ("wechat_openid", "oLVPpjqs9BhvzwPj5A-vTYAX3GLc", "wxNOTHEX", "invalid_identity"),
        ("wecom_external_userid", "external-1", None, "invalid_identity"),
        ("phone", "12345", None, "invalid_identity"),
        ("platform_buyer_id", "x", None, "invalid_identity"),
        ("qq_number", "12345", None, "unknown_identity_type"),
    ],
)
def test_bad_identities_get_precise_errors(type_: str, value: str, namespace: str | None, code: str) -> None:
    with pytest.raises(DomainError) as info:
        normalise_identity(type_, value, namespace)
    assert info.value.code == code
    assert info.value.status == 422
    assert type_ in info.value.message("en")
