"""The citizen form as data: fields and uploads in, an ``Envelope`` or field errors out.

Pure apart from reading the clock value it is given; the aiohttp handler in
``routes.py`` streams the multipart body into ``RawForm`` with size limits.
"""

from __future__ import annotations

import binascii
import contextlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote, unquote_to_bytes

from contract.envelope import Attachment, Channel, Envelope
from contract.images import oversized_image
from contract.normalise import EMAIL, InvalidInput, clean_text, decode_utf8, normalise_phone

_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")

# Bytes a form value may hold for the fast path: printable ASCII except "=" and "&".
_PRINTABLE = bytes(b for b in range(0x21, 0x7F) if b not in b"=&")


def parse_urlencoded(body: bytes) -> list[tuple[str, bytes]]:
    """An ``application/x-www-form-urlencoded`` body as (name, raw value bytes) pairs.

    What ``parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1")``
    returns (the value's bytes kept undecoded, so broken UTF-8 is reported, not guessed),
    but the escapes of a well-formed value are decoded in C by ``binascii.a2b_qp`` (the
    quoted-printable decoder, with "%" written "="):
    urllib's per-escape Python loop was a twentieth of a web intake's CPU for a
    complaint in Chinese (three escapes a character). Anything else takes urllib's path.
    """
    pairs = []
    for piece in body.split(b"&"):
        if not piece:
            continue
        name, _, value = piece.partition(b"=")
        pairs.append((_unquote_plus(name).decode("latin-1"), _unquote_plus(value)))
    return pairs


def _unquote_plus(raw: bytes) -> bytes:
    if not raw.translate(None, _PRINTABLE):  # no "=", space, line end or non-ASCII byte
        parts = []
        for part in raw.split(b"+"):  # split first: a "%2B" inside a part is a real plus
            decoded = binascii.a2b_qp(part.replace(b"%", b"="))
            # Each well-formed escape is 3 bytes in, 1 out; one that is not loses at most
            # one, so only a part whose every "%" began a hex escape passes this check.
            if len(decoded) != len(part) - 2 * part.count(b"%"):
                break
            parts.append(decoded)
        else:
            return b" ".join(parts)
    return unquote_to_bytes(raw.replace(b"+", b" "))


# Leading bytes of each accepted type: the declared Content-Type is never trusted.
_SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/gif", b"GIF87a", 0),
    ("image/gif", b"GIF89a", 0),
    ("image/tiff", b"II*\x00", 0),
    ("image/tiff", b"MM\x00*", 0),
    ("application/pdf", b"%PDF-", 0),
    ("audio/mpeg", b"ID3", 0),
    ("video/mp4", b"ftyp", 4),
)


def sniff_type(data: bytes) -> str | None:
    """The file's real type from its first bytes, or None if it is none we know."""
    for content_type, magic, offset in _SIGNATURES:
        if data[offset:offset + len(magic)] == magic:
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    return None


def safe_filename(raw: str | None, fallback: str) -> str:
    """A display name for an upload: no path, no control characters, bounded length."""
    # Some clients (aiohttp's own, older browsers) percent-encode non-ASCII names; a name
    # whose escapes are not UTF-8 ("a%ff.png", an encoded surrogate) is kept as sent.
    text = raw or ""
    if _PERCENT.search(text):
        with contextlib.suppress(UnicodeDecodeError):
            text = unquote(text, errors="strict")
    name = unicodedata.normalize("NFC", text.replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    return name[:100] or fallback


@dataclass(slots=True)
class Upload:
    filename: str | None
    declared_type: str
    data: bytes
    too_large: bool = False


@dataclass(slots=True)
class RawForm:
    """What the browser sent, undecoded."""

    fields: dict[str, bytes] = field(default_factory=dict)
    uploads: list[Upload] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FormLimits:
    max_attachments: int
    max_attachment_bytes: int
    allowed_types: frozenset[str]
    districts: tuple[str, ...]


#: Messages that say how to put the input right, not only that it is wrong.
PHONE_HELP = "请填写 11 位手机号码（如 13805912345），或带区号的固定电话（如 0591-87654321）"
CONTACT_HELP = "请至少留下手机号码或电子邮箱中的一项，以便我们答复您"
EMAIL_HELP = "电子邮箱格式不正确：请检查是否漏写了 @ 或 @ 后面的部分"
PUBLIC_HELP = "请选择“同意公开”或“不同意公开”"
DISTRICT_HELP = "请从列表中选择区县；不清楚可选“不清楚”"
REPLY_BY_HELP = "请选择答复方式：“短信”或“电话”"
CALL_NEEDS_PHONE = "选择电话答复时，请填写电话号码"
#: 答复方式 (the form's ``reply_by``): a text or a call; absent (an older page) is a text.
REPLY_BY = {"": False, "sms": False, "call": True}


class FormErrors(Exception):
    """Field → message, shown next to each field; the form keeps what was typed.

    A browser cannot put a file back into a file input, so ``reattach`` names the
    files that were fine but must be chosen again: the citizen is told, not left to
    find the photo missing from the case."""

    def __init__(self, errors: dict[str, str], values: dict[str, str],
                 reattach: tuple[str, ...] = ()) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
        self.values = values
        self.reattach = reattach


def _text(raw: RawForm, name: str, errors: dict[str, str]) -> str:
    value = raw.fields.get(name, b"")
    try:
        return decode_utf8(value, field=name)
    except InvalidInput as exc:
        errors[name] = exc.message
        return ""


def parse_form(raw: RawForm, *, submission_id: str, received_at: datetime,
               limits: FormLimits) -> Envelope:
    """Validate the citizen's form; raise ``FormErrors`` with every problem at once."""
    errors: dict[str, str] = {}
    values = {name: _text(raw, name, errors)
              for name in ("name", "phone", "email", "text", "district", "location", "public",
                           "reply_by")}
    cleaned: dict[str, str] = {}
    for name, limit, required in (("text", 5000, True), ("name", 50, False),
                                  ("location", 200, False)):
        if name in errors:
            continue
        try:
            cleaned[name] = clean_text(values[name], field=name, max_chars=limit,
                                       required=required)
        except InvalidInput as exc:
            errors[name] = exc.message
    phone = email = None
    if values["phone"].strip() and "phone" not in errors:
        try:
            phone = normalise_phone(values["phone"])
        except InvalidInput:
            errors["phone"] = PHONE_HELP
    if values["email"].strip() and "email" not in errors:
        email = unicodedata.normalize("NFKC", values["email"]).strip()
        if not EMAIL.match(email):
            errors["email"] = EMAIL_HELP
            email = None
    if not phone and not email and "phone" not in errors and "email" not in errors:
        errors["phone"] = CONTACT_HELP
    district = values["district"].strip()
    if district and district not in limits.districts:
        errors["district"] = DISTRICT_HELP
    if values["public"] not in ("yes", "no"):
        errors["public"] = PUBLIC_HELP
    by_call = REPLY_BY.get(values["reply_by"].strip())
    if by_call is None:
        errors["reply_by"] = REPLY_BY_HELP
    elif by_call and not phone and "phone" not in errors:
        errors["reply_by"] = CALL_NEEDS_PHONE
    attachments = _attachments(raw.uploads, limits, errors)
    if errors:
        raise FormErrors(errors, values, tuple(a.filename for a in attachments))
    return Envelope(
        channel=Channel.WEB,
        external_id=submission_id,
        received_at=received_at,
        text=cleaned["text"],
        sender=phone or email,
        reply_address=phone or email,
        display_name=cleaned.get("name") or None,
        attachments=tuple(attachments),
        public_allowed=values["public"] == "yes",
        district_hint=district or None,
        location_hint=cleaned.get("location") or None,
        alt_reply_addresses=(email,) if phone and email else (),
        # The choice is the phone's; a landline is called whatever it says (it takes no SMS).
        reply_by_call=bool(by_call) if phone else None,
    )


def _attachments(uploads: list[Upload], limits: FormLimits,
                 errors: dict[str, str]) -> list[Attachment]:
    present = [u for u in uploads if u.data or u.too_large or u.filename]
    if len(present) > limits.max_attachments:
        errors["attachments"] = f"最多上传 {limits.max_attachments} 个附件"
        return []
    out: list[Attachment] = []
    problems: list[str] = []
    for index, upload in enumerate(present, start=1):
        name = safe_filename(upload.filename, f"附件{index}")
        if upload.too_large:
            mb = limits.max_attachment_bytes / 1_048_576
            problems.append(f"“{name}”超过 {mb:.0f} MB 的大小限制")
            continue
        if not upload.data:
            problems.append(f"“{name}”是空文件")
            continue
        real = sniff_type(upload.data)
        if real is None or real not in limits.allowed_types:
            problems.append(f"“{name}”的文件类型不被接受（仅限图片、PDF、音频、视频）")
            continue
        why = oversized_image(upload.data) if real.startswith("image/") else None
        if why is not None:
            problems.append(f"“{name}”：{why}")
            continue
        out.append(Attachment(filename=name, content_type=real, data=upload.data))
    if problems:
        errors["attachments"] = "；".join(problems)
    return out
