"""Normalisation of what citizens send: phone numbers, text, lengths.

Every function raises ``InvalidInput`` naming the field and saying, in words a
citizen or agent understands, what is wrong; nothing here touches storage.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

DEFAULT_REGION = "CN"
MAX_TEXT_CHARS = 5000
MAX_NAME_CHARS = 50

# C0/C1 control characters except tab and newline; also lone surrogates, which
# come from broken UTF-16 (e.g. invalid UCS-2 in an SMS) and cannot be stored.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u200b\u2028\u2029\ufeff]")


class InvalidInput(ValueError):
    """Input that cannot become a record as it is; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def clean_text(raw: str, *, field: str = "text", max_chars: int = MAX_TEXT_CHARS,
               required: bool = True) -> str:
    """NFC-normalise, drop control characters, unify line ends, trim; enforce limits."""
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text).strip()
    if required and not text:
        raise InvalidInput(field, "内容不能为空，请填写")
    if len(text) > max_chars:
        raise InvalidInput(field, f"内容过长：最多 {max_chars} 字，现有 {len(text)} 字，请删减")
    return text


def decode_utf8(raw: bytes, *, field: str = "text") -> str:
    """Decode bytes that must be UTF-8; broken encodings are refused, never guessed."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(field, f"文字编码无效（第 {exc.start} 字节），请重新输入后再提交") \
            from exc


def _cn_mobile_pattern() -> re.Pattern[str]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    pattern = metadata.mobile.national_number_pattern if metadata and metadata.mobile else None
    # A pattern that matches nothing leaves every number to the full parse.
    return re.compile(pattern or r"(?!)")


_CN_MOBILE = _cn_mobile_pattern()
"""A mainland mobile number as phonenumbers' own metadata describes it: 11 digits that match
are valid and their E.164 form is ``+86`` and the digits. The shortcut skips a full parse for
what most citizens type (a full parse was a tenth of a web intake's CPU); the test compares
it with phonenumbers over every mobile prefix, so a metadata update cannot make them differ
unnoticed."""


def normalise_phone(raw: str, *, region: str = DEFAULT_REGION, field: str = "phone") -> str:
    """Return the number in E.164 (``+8659187654321``) or raise ``InvalidInput``.

    Accepts what people and gateways write: spaces, dashes, brackets, a leading
    ``00`` or ``+86``, Fuzhou landlines with ``0591``, mobiles of 11 digits.
    """
    candidate = unicodedata.normalize("NFKC", raw).strip()
    if not candidate:
        raise InvalidInput(field, "电话号码不能为空")
    if region == "CN":
        mobile = candidate[3:] if candidate.startswith("+86") else candidate
        if len(mobile) == 11 and mobile.isascii() and mobile.isdigit() \
                and _CN_MOBILE.fullmatch(mobile):
            return "+86" + mobile
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    try:
        parsed = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(field, f"无法识别的电话号码：{raw!r}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(field, f"电话号码无效：{raw!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """Mask a phone number for display to people who need not see it whole."""
    if len(e164) <= 7:
        return "*" * len(e164)
    return e164[:-8] + "****" + e164[-4:]


# Characters common in complaints that exist only in Traditional script, and their
# Simplified twins: enough to tell which script a citizen writes (the seed regulation
# itself is in Traditional), not a converter.
_TRADITIONAL = set("這個們時會為說國來對與點麼裡還過發現開關門問題處理"
                   "區縣們訴號碼請謝環境噪聲車輛違規員單價錢費產樓燈壞")
_SIMPLIFIED = set("这个们时会为说国来对与点么里还过发现开关门问题处理"
                  "区县们诉号码请谢环境噪声车辆违规员单价钱费产楼灯坏")


def detect_script(text: str) -> str:
    """``zh-Hant`` when the text is clearly written in Traditional characters, else ``zh-Hans``."""
    traditional = sum(ch in _TRADITIONAL and ch not in _SIMPLIFIED for ch in text)
    simplified = sum(ch in _SIMPLIFIED and ch not in _TRADITIONAL for ch in text)
    return "zh-Hant" if traditional >= 2 and traditional > 2 * simplified else "zh-Hans"


EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}$")
"""A plausible email address for a reply (the relay does the real checking)."""


def whole_number(raw: str, *, maximum: int = 2**31 - 1) -> int | None:
    """``raw`` as a whole number 0…``maximum``, or None: only ASCII digits count
    (``"²".isdigit()`` is true, yet ``int("²")`` fails), and no number a database
    column could not hold."""
    raw = raw.strip()
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    value = int(raw)
    return value if value <= maximum else None
