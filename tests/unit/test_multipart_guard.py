"""The edge's control-character rule on multipart bodies as browsers send them: the boundary is
case-sensitive, a file part is known by its Content-Disposition `filename` parameter, and a file's
bytes are never scanned (an image or a workbook holds control bytes) while every text field is."""

from __future__ import annotations

from siyu.api.inputs import body_problems

BOUNDARY = "----WebKitFormBoundaryAbCdEfGh12"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def _body(*parts: tuple[str, bytes]) -> bytes:
    out = b""
    for head, value in parts:
        out += f"--{BOUNDARY}\r\n{head}\r\n\r\n".encode() + value + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x01\x02"


def test_a_browser_upload_with_a_mixed_case_boundary_passes() -> None:
    body = _body(
        ('Content-Disposition: form-data; name="kind"', b"customers"),
        ('Content-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png', PNG),
    )
    assert body_problems(body, CONTENT_TYPE) == []
    # The media type itself is compared without regard to case.
    assert body_problems(body, CONTENT_TYPE.replace("multipart/form-data", "Multipart/Form-Data")) == []


def test_a_text_field_holding_a_control_character_is_refused_beside_a_file() -> None:
    body = _body(
        ('Content-Disposition: form-data; name="name"', b"bad\x01name"),
        ('Content-Disposition: form-data; name="file"; filename="a.png"', PNG),
    )
    problems = body_problems(body, CONTENT_TYPE)
    assert [p.character for p in problems] == ["U+0001"]


def test_a_field_merely_mentioning_filename_is_still_a_text_field() -> None:
    """Only the `filename` parameter makes a file: a field whose name or value says `filename=` is text."""
    body = _body(('Content-Disposition: form-data; name="filename=x"', b"text\x02"))
    assert [p.character for p in body_problems(body, CONTENT_TYPE)] == ["U+0002"]


def test_an_empty_file_input_and_an_encoded_file_name_are_files() -> None:
    body = _body(
        ('Content-Disposition: form-data; name="file"; filename=""', b"\x00"),
        ("Content-Disposition: form-data; name=\"img\"; filename*=UTF-8''%E4%B8%AD.png", PNG),
    )
    assert body_problems(body, CONTENT_TYPE) == []
