"""Fax-to-email parsing: raw RFC 5322 bytes in, the fax's parts and sender out.

Pure functions, no I/O: the SMTP handler calls them in a worker thread and
turns ``NotAFax`` into a 550/552 reply. Understood formats:

* HylaFAX ``faxrcvd``: subject "Facsimile received from <TSI>", a text part
  with ``faxinfo`` lines (``Sender:``, ``Pages:``, ``CallID1:``/``CIDNumber:``)
  and the document as TIFF or PDF (its ``FILETYPE``);
* providers that put the sender's number in a header (``X-Fax-Sender``, …),
  in the subject ("Fax from 0591-8765 4321", "传真来自 …") or in the From
  (``059187654321@fax.provider.example`` or a display name).

The caller ID (from the telephone network) is preferred over the TSI, which is
whatever the citizen typed into the fax machine and is often a name.
"""

from __future__ import annotations

import binascii
import email
import email.policy
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import parseaddr

from contract.normalise import InvalidInput, normalise_phone

TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
PDF_MAGIC = b"%PDF-"
MAX_BODY_CHARS = 65_536
MAX_NOTE_CHARS = 200

_CALLER_ID_HEADERS = ("X-Fax-Caller-ID", "X-Caller-ID", "X-Fax-Sender", "X-Fax-From",
                      "X-Fax-Number", "X-Fax-Remote-Number")
_TSI_HEADERS = ("X-Fax-TSI", "X-Fax-Remote-ID", "X-Fax-Station-ID")
_PAGES_HEADERS = ("X-Fax-Pages",)
# A partial reception: HylaFAX's faxrcvd says so in the body; providers in a header.
_INCOMPLETE_TEXT = re.compile(
    r"(The full document was not received because:\s*(?P<why>[^\r\n]*)"
    r"|Errors were received[^\r\n]*|\bpartial(?:ly)? (?:fax|received|reception)"
    r"|\bincomplete (?:fax|reception)|接收不完整|部分接收)", re.IGNORECASE)
_INCOMPLETE_HEADERS = {"X-Fax-Status": ("partial", "incomplete", "error", "errors"),
                       "X-Fax-Complete": ("no", "false", "0"),
                       "X-Fax-Incomplete": ("yes", "true", "1"),
                       "X-Fax-Partial": ("yes", "true", "1")}
_FAXINFO = re.compile(
    r"^[ \t]*(Sender|Pages|Quality|CallID1|CIDNumber|CIDName)[ \t]*:[ \t]*(.*?)[ \t]*$",
    re.MULTILINE | re.IGNORECASE)
_NUMBER = re.compile(r"\+?\d[\d \-().]{4,22}\d")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_DOC_EXT = (".tif", ".tiff", ".pdf")


class NotAFax(Exception):
    """Mail that cannot become a fax case; ``code`` is the SMTP reply code (550/552)."""

    def __init__(self, reason: str, *, code: int = 550, status: str = "5.6.0") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.status = status

    @property
    def smtp_reply(self) -> str:
        return f"{self.code} {self.status} {self.reason}"


@dataclass(frozen=True, slots=True)
class FaxDocument:
    """One received document as attached: TIFF or PDF bytes, not yet opened."""

    filename: str
    kind: str
    """"tiff" or "pdf"."""
    data: bytes

    @property
    def content_type(self) -> str:
        return "image/tiff" if self.kind == "tiff" else "application/pdf"


@dataclass(frozen=True, slots=True)
class FaxMail:
    """What a fax-to-email message says, before the documents are opened."""

    message_id: str | None
    subject: str
    documents: tuple[FaxDocument, ...]
    sender: str | None
    """The sender's fax number in E.164, when one parsed."""
    sender_source: str
    """Where it came from ("caller-id header", "faxinfo CallID1", "subject", …)."""
    raw_sender: str | None
    """The TSI or other sender text as sent, when no number parsed or it differs."""
    declared_pages: int | None
    incomplete: str | None = None
    """Why the gateway says the reception was partial (pages may be missing), or None."""


def one_line(value: str, *, limit: int = MAX_NOTE_CHARS) -> str:
    """Make header text safe to log, store or echo: no CR/LF/controls, bounded length.

    This is the header-injection guard: a subject decoded from an encoded word
    may carry ``\\r\\nBcc: …``; it becomes one harmless line.
    """
    text = _CONTROL.sub(" ", unicodedata.normalize("NFC", value)).strip()
    text = re.sub(r"\s{2,}", " ", text)
    return text[:limit]


def external_id(message_id: str | None, raw: bytes) -> str:
    """Message-ID without brackets; ``sha256:<hex>`` of the raw mail when there is none."""
    if message_id:
        return message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


_CTE_BASE64 = re.compile(rb"[ \t]*base64[ \t]*\r?\n", re.IGNORECASE)
_MIN_SET_ASIDE = 4096
"""Base64 bodies shorter than this are left to the parser: setting them aside gains nothing."""


@dataclass(frozen=True, slots=True)
class _SetAside:
    """A base64 body kept out of the line-by-line parser, as sent and decoded once."""

    text: str
    data: bytes


def _set_aside(raw: bytes) -> tuple[bytes, dict[str, _SetAside]]:
    """``raw`` with each large base64 body replaced by a one-line token; token → the body.

    The stdlib parser reads a mail line by line in Python: a 1 MB fax is ~19 000 base64
    lines, ~20 ms, most of a fax's parse. A body is set aside only where it surely is one:
    it follows a ``Content-Transfer-Encoding: base64`` header line and the blank line that
    ends that header block, and up to the next line starting with ``-`` (a boundary) it
    is strict base64 once its line breaks are gone. That check is the decoding itself, the
    very call ``get_payload(decode=True)`` makes on such a body, so the body is decoded here,
    once: decoding it again there costs ~5 ms of copying and splitting a fax's lines.
    ``_parse`` checks that every token came back as one base64 part's whole payload, else
    it parses the mail as sent.
    """
    lowered = raw.lower()
    nonce = secrets.token_hex(8)
    pieces: list[bytes] = []
    bodies: dict[str, _SetAside] = {}
    done = at = 0
    while (at := lowered.find(b"\ncontent-transfer-encoding:", at)) >= 0:
        at += len(b"\ncontent-transfer-encoding:")
        if not _CTE_BASE64.match(raw, at):
            continue
        blank = re.compile(rb"\r?\n\r?\n").search(raw, at)
        if blank is None:
            break
        start = blank.end()
        end = raw.find(b"\n-", start - 1)
        end = len(raw) if end < 0 else end + 1
        body = raw[start:end]
        if len(body) < _MIN_SET_ASIDE:
            continue
        try:  # what the parser's decode_b does first; whatever it would have to repair stays
            data = binascii.a2b_base64(body.translate(None, b"\r\n"), strict_mode=True)
        except binascii.Error:
            continue
        token = f"SETASIDE{nonce}N{len(bodies)}"
        bodies[token] = _SetAside(body.decode("ascii"), data)
        pieces += [raw[done:start], token.encode() + b"\r\n"]
        done = at = end
    return (b"".join([*pieces, raw[done:]]), bodies) if bodies else (raw, {})


Decoded = dict[int, bytes]
"""The decoded payload of each set-aside part, by the part's ``id`` (the message keeps it alive)."""


def _parse(raw: bytes) -> tuple[Message, Decoded]:
    """The parsed mail, with the base64 bodies set aside (``_set_aside``) put back as payloads;
    and their decoded bytes, which ``_walk`` takes instead of decoding each payload again."""
    light, bodies = _set_aside(raw)
    msg = email.message_from_bytes(light, policy=email.policy.default)
    if not bodies:
        return msg, {}
    decoded: Decoded = {}
    for part in msg.walk():
        payload = part.get_payload() if not part.is_multipart() else None
        token = payload.strip() if isinstance(payload, str) else ""
        if token in bodies:
            if part.get("Content-Transfer-Encoding", "").strip().lower() != "base64":
                break
            part.set_payload(bodies[token].text)
            decoded[id(part)] = bodies[token].data
    if len(decoded) != len(bodies):  # a token landed somewhere unexpected: parse the mail as sent
        return email.message_from_bytes(raw, policy=email.policy.default), {}
    return msg, decoded


def parse_fax_mail(raw: bytes) -> FaxMail:
    """Parse one delivered mail; raise ``NotAFax`` when it carries no fax document."""
    try:
        msg, decoded = _parse(raw)
    except Exception as exc:  # the parser is lenient; anything raised is malformed mail
        raise NotAFax(f"malformed MIME message: {exc}") from exc
    subject = one_line(_header(msg, "Subject"), limit=500)
    message_id = _message_id(msg)
    documents, bodies, others = _walk(msg, decoded)
    if not documents:
        found = f" (found: {', '.join(sorted(set(others)))})" if others else ""
        raise NotAFax(f"not a fax: no TIFF or PDF document attached{found}")
    body = "\n".join(bodies)[:MAX_BODY_CHARS]
    faxinfo = {key.lower(): value for key, value in _FAXINFO.findall(body)}
    sender, source, raw_sender = _find_sender(msg, subject, faxinfo)
    return FaxMail(message_id=message_id, subject=subject, documents=tuple(documents),
                   sender=sender, sender_source=source, raw_sender=raw_sender,
                   declared_pages=_declared_pages(msg, faxinfo),
                   incomplete=_incomplete(msg, subject, body))


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a broken encoded word must not stop the fax
        return ""
    return "" if value is None else str(value)


def _message_id(msg: Message) -> str | None:
    value = one_line(_header(msg, "Message-ID"), limit=250).strip("<> ")
    return value or None


def _walk(msg: Message,
          decoded: Decoded) -> tuple[list[FaxDocument], list[str], list[str]]:
    documents: list[FaxDocument] = []
    bodies: list[str] = []
    others: list[str] = []
    for index, part in enumerate(msg.walk()):
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        filename = one_line(part.get_filename() or "", limit=100)
        if ctype == "text/plain" and not filename:
            bodies.append(_text_of(part))
            continue
        data = decoded[id(part)] if id(part) in decoded else _payload(part)
        kind = _sniff(data)
        claims_doc = (ctype in ("image/tiff", "image/tif", "application/pdf")
                      or filename.lower().endswith(_DOC_EXT))
        if kind is None and claims_doc:
            head = data[:8].hex(" ") if data else "nothing"
            raise NotAFax(f"attachment {filename or ctype!r} is not a TIFF or PDF "
                          f"(it starts with {head})")
        if kind is None:
            if data.startswith(b"%!PS"):
                raise NotAFax("PostScript fax documents are not supported; "
                              "send TIFF or PDF (HylaFAX: FILETYPE=tif or pdf)")
            if part.get_content_disposition() == "attachment" or filename:
                others.append(ctype)
            continue
        name = _safe_filename(filename, index, kind)
        documents.append(FaxDocument(filename=name, kind=kind, data=data))
    return documents, bodies, others


def _text_of(part: Message) -> str:
    try:
        if isinstance(part, EmailMessage):
            content = part.get_content()
            return content if isinstance(content, str) else ""
    except (LookupError, ValueError, UnicodeError):
        pass
    data = _payload(part)
    return data.decode("utf-8", errors="replace")


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # broken transfer encoding: treated as no data
        return b""
    return data if isinstance(data, bytes) else b""


def _sniff(data: bytes) -> str | None:
    if data[:4] in TIFF_MAGIC:
        return "tiff"
    if data[:1024].lstrip().startswith(PDF_MAGIC):
        return "pdf"
    return None


def _safe_filename(filename: str, index: int, kind: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", filename.rsplit("/", 1)[-1]).strip("._")
    ext = ".tif" if kind == "tiff" else ".pdf"
    if not base:
        base = f"fax-part{index}"
    return base if base.lower().endswith(_DOC_EXT) else base + ext


def _find_sender(msg: Message, subject: str,
                 faxinfo: dict[str, str]) -> tuple[str | None, str, str | None]:
    """Try each place a number may be, most trusted first; keep the TSI as written."""
    tsi = next((one_line(_header(msg, h)) for h in _TSI_HEADERS if _header(msg, h)), None)
    tsi = tsi or (one_line(faxinfo["sender"]) if faxinfo.get("sender") else None)
    from_name, from_addr = parseaddr(_header(msg, "From"))
    candidates: list[tuple[str, str]] = [(f"header {h}", _header(msg, h))
                                         for h in _CALLER_ID_HEADERS]
    candidates += [("faxinfo CallID1", faxinfo.get("callid1", "")),
                   ("faxinfo CIDNumber", faxinfo.get("cidnumber", "")),
                   ("faxinfo Sender (TSI)", faxinfo.get("sender", "")),
                   ("header TSI", tsi or ""),
                   ("subject", subject),
                   ("From address", from_addr.split("@", 1)[0]),
                   ("From name", from_name)]
    for source, text in candidates:
        number = _first_number(text)
        if number:
            return number, source, tsi
    return None, "none", tsi or one_line(subject) or None


def _first_number(text: str) -> str | None:
    for match in _NUMBER.finditer(unicodedata.normalize("NFKC", text or "")):
        # "0591-8765 4322(1" (a page count after the number): drop trailing groups.
        groups = re.split(r"(?<=\d)(?=[ \-().])", match.group(0))
        for end in range(len(groups), 0, -1):
            try:
                return normalise_phone("".join(groups[:end]))
            except InvalidInput:
                continue
    return None


def _incomplete(msg: Message, subject: str, body: str) -> str | None:
    """The gateway's words for a partial reception, from a header, the subject or the body."""
    for name, values in _INCOMPLETE_HEADERS.items():
        value = one_line(_header(msg, name))
        if value.lower() in values:
            return f"{name}: {value}"
    for text in (subject, body):
        found = _INCOMPLETE_TEXT.search(text)
        if found:
            return one_line(found.group("why") or found.group(0)) or "partial reception"
    return None


def _declared_pages(msg: Message, faxinfo: dict[str, str]) -> int | None:
    for value in [_header(msg, h) for h in _PAGES_HEADERS] + [faxinfo.get("pages", "")]:
        digits = re.match(r"\s*(\d{1,6})\b", value or "")
        if digits:
            return int(digits.group(1))
    return None
