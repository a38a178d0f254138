"""parse_urlencoded reads a form body exactly as urllib's parse_qsl does, on any bytes."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from hypothesis import example, given, settings
from hypothesis import strategies as st

from channels.web.form import parse_urlencoded


def _urllib(body: bytes) -> list[tuple[str, bytes]]:
    """What the form handler did before: urllib on the latin-1 text, bytes kept undecoded."""
    return [(name, value.encode("latin-1")) for name, value in
            parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1")]


def test_a_complaint_in_chinese_round_trips() -> None:
    fields = {"name": "王 小明", "phone": "139 1234 5678", "text": "井盖丢失+危险=100%！\r\n已报 2 次",
              "csrf": "a.b-c_d~e", "empty": ""}
    body = urlencode(fields).encode("ascii")
    assert parse_urlencoded(body) == [(k, v.encode()) for k, v in fields.items()]
    assert parse_urlencoded(body) == _urllib(body)


# Bytes that make each branch matter: escapes (upper, lower, broken), plus signs, separators,
# "=" inside a value, spaces, line ends and non-ASCII bytes sent unescaped.
_PIECES = st.sampled_from([b"%E4%B8%AD", b"%e4%b8%ad", b"%2B", b"%3D", b"%26", b"%", b"%4", b"%zz",
                           b"+", b"&", b"=", b"a", b"Z9", b"-._~*", b" ", b"\r\n", b"\t", b"\xe4\xb8",
                           b"\x00", b"_", b"%0A", b"'!()"])


@settings(max_examples=1000)
@given(st.lists(_PIECES, max_size=30).map(b"".join))
@example(b"a=b=c&&=&x&y=%2B+%20+&%=%%")
@example(b"text=%E4%B8%AD%")
@example(b"a=%%41&b=%4%41&c=%3%41&d=%E%41&e=%41%&f=%4")
def test_any_body_reads_as_urllib_reads_it(body: bytes) -> None:
    assert parse_urlencoded(body) == _urllib(body)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_read_as_urllib_reads_them(body: bytes) -> None:
    assert parse_urlencoded(body) == _urllib(body)
