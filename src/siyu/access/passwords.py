"""Passwords (the kernel's `access`): the strength rule, Argon2id hashing and verification.

Imports no domain, so the organisation's staff use cases and authentication both use it."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from siyu.core.errors import DomainError

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("siyu-no-such-user")


MIN_PASSWORD_LENGTH = 10
# The passwords people pick first (as published in leaked-password rankings), lowercased; a
# password equal to one of these, or made of one repeated character, is refused at any length.
COMMON_PASSWORDS = frozenset(
    """
    password password1 password12 password123 password1234 passw0rd p@ssw0rd p@ssword qwerty qwerty123
    qwertyuiop qwerty1234 1q2w3e4r 1q2w3e4r5t 1qaz2wsx 1qaz2wsx3edc zaq12wsx asdfghjkl asdfasdfasdf
    abc123 abc12345 abcd1234 abcdefg abcdefgh abcdefghij a1b2c3d4 a1b2c3d4e5 iloveyou iloveyou1
    woaini woaini1314 woaini520 5201314 520131400 1314520 1234567890 0123456789 9876543210 12345678910
    1234567891 1234512345 1122334455 1111122222 123123123 123123123123 123456123456 123321123
    123456789 12345678 1234567 123456 qazwsxedc qazwsxedcrfv admin admin123 admin1234 administrator
    root123456 letmein letmein123 welcome welcome123 welcome1 changeme changeme123 sunshine
    princess football baseball dragon monkey shadow master master123 superman trustno1 starwars
    computer internet whatever freedom michael jennifer killer hello123 helloworld zxcvbnm
    zxcvbnm123 zxcvbnmasd 147258369 159357456 789456123 741852963 987654321 a123456789 aa123456789
    a12345678 qq123456789 wang123456 zhang123456 li123456789 siyu123456 siyu2026 siyupassword
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def password_problem(password: str) -> tuple[str, str] | None:
    """Why a new password is too weak (zh-CN, English), or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return (
            f"密码至少 {MIN_PASSWORD_LENGTH} 位",
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
        )
    if not password.strip() or len(set(password)) == 1:
        return "密码不能全是空格或同一个字符", "a password cannot be only spaces or one repeated character"
    if password.lower() in COMMON_PASSWORDS:
        return "这是最常见的密码之一，请换一个", "this is one of the most common passwords; choose another"
    return None


def hash_password(password: str) -> str:
    """Argon2id hash of a password strong enough to keep (see `password_problem`)."""
    problem = password_problem(password)
    if problem is not None:
        raise DomainError("weak_password", reason_zh=problem[0], reason_en=problem[1])
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against its hash (constant work when the hash is absent)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
