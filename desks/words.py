"""Stored internals in words people use: case notes, file kinds, delivery errors.

Channels write notes as ``key=value`` for machines and logs (``fax.resolution=204x196``,
``agent=agent``); outbound adapters store the exception text of a failed send
(``[Errno 111] Connection refused``). The desk shows them as a label and a value a
member of staff can read; a value that came from outside (a fax machine's header,
a provider's id) is marked ``data-content``: it is data, not the page's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup, escape

#: Note keys the channels write → what they mean.
NOTE_KEYS: dict[str, str] = {
    "agent": "登记坐席", "category": "来电类别", "fax.pages": "传真页数",
    "fax.resolution": "传真分辨率", "fax.declared_pages": "传真标称页数",
    "fax.sender_source": "传真号码来源", "fax.tsi": "传真机标识", "fax.subject": "传真邮件主题",
    "sip.call_id": "通话编号", "sip.duration_s": "留言时长（秒）", "address_id": "地址编号",
    "media_url": "附图地址",
}
#: Whole notes that are a fixed word.
NOTE_WORDS: dict[str, str] = {
    "voicemail": "语音留言，待坐席听录",
    "caller_withheld": "来电未显示号码：须请诉求人回电获取答复",
    "fax.sender=unknown (no fax number could be read)": "未能读出传真号码，无法传真答复",
    "fax.ocr=machine text, to be checked": "含机器识别文字，须人工核对",
}
SENDER_SOURCES = {"faxinfo": "传真服务器记录", "subject": "邮件主题", "header": "邮件头"}
_ENGLISH_TAIL = re.compile(r"\s*\((?=[^)]*[A-Za-z])[^)\u3400-\u9fff]*\)\s*$")


@dataclass(frozen=True, slots=True)
class NoteView:
    """A note as shown: a label in Chinese and a value (from outside when ``data``)."""

    label: str
    value: str = ""
    data: bool = False


def note_view(note: str) -> NoteView:
    """One stored note in words; unknown ``key=value`` notes keep the value as data."""
    if note in NOTE_WORDS:
        return NoteView(NOTE_WORDS[note])
    key, sep, value = note.partition("=")
    if sep and re.fullmatch(r"[a-z_.]+", key):
        if key == "fax.resolution":
            return NoteView(NOTE_KEYS[key], value.replace("x", "×") + " 点每英寸")
        if key == "fax.sender_source":
            return NoteView(NOTE_KEYS[key], SENDER_SOURCES.get(value, "其他"))
        if key in ("fax.pages", "fax.declared_pages", "sip.duration_s", "category"):
            return NoteView(NOTE_KEYS[key], value)
        return NoteView(NOTE_KEYS.get(key, "其他记录"), value, data=True)
    return NoteView(_ENGLISH_TAIL.sub("", note))


#: Content types → what a person calls the file.
FILE_KINDS: dict[str, str] = {
    "image/jpeg": "照片", "image/png": "图片", "image/gif": "图片", "image/webp": "图片",
    "image/tiff": "传真原件图像", "application/pdf": "文档", "message/rfc822": "传真邮件原件",
    "audio/wav": "录音", "audio/mpeg": "录音", "video/mp4": "视频", "text/plain": "文字",
}


def file_kind(content_type: str) -> str:
    """The kind of a stored file in a word (照片, 录音, 传真原件图像 …)."""
    return FILE_KINDS.get(content_type.split(";")[0].strip().lower(), "文件")


#: Fragments of a failed send's error text → what happened, for the desk.
SEND_ERRORS: tuple[tuple[str, str], ...] = (
    ("refused", "对方服务器拒绝连接"), ("timed out", "连接超时"), ("timeout", "连接超时"),
    ("name or service not known", "找不到对方服务器"), ("throttled", "对方限制发送频率"),
    ("unreachable", "网络不通"), ("550", "对方拒收"), ("invalid", "号码或地址无效"),
)


def send_error(text: str | None) -> str:
    """A failed delivery's stored error as a sentence: never the exception text itself."""
    if not text:
        return ""
    lowered = text.lower()
    for fragment, words in SEND_ERRORS:
        if fragment in lowered:
            return words
    return "发送失败" if re.search(r"[A-Za-z]{3,}", text) else text


_ENGLISH_ASIDE = re.compile(r"\s*\((?=[^)]*[A-Za-z])[^)\u3400-\u9fff]*\)")
_CODE = re.compile(r"(?<![\w/.-])([a-z_]+ = \w+|[A-Za-z][\w.-]*(?:[/_.-][\w.-]+)+)")


def chinese_only(line: str) -> Markup:
    """An operator line written "中文 (English)" for the shell, as the desk shows it: the
    English asides dropped, and file names, zones and settings keys set as ``<code>``."""
    text = _ENGLISH_ASIDE.sub("", line)
    return Markup(_CODE.sub(lambda m: str(Markup("<code>{}</code>").format(m.group(1))),
                            str(escape(text))))
