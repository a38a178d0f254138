"""Rule IDs as tooltips: templates cite the regulation (R8.4d) for the reader of the source;
the person at the desk sees plain Chinese with the ID behind a small mark.

A Jinja extension rewrites the text between tags when a template is compiled, so
every page gets the same treatment without each template repeating markup; tags,
attributes and Jinja expressions are left as they are. ``rule_tips`` does the same
for a string at render time (labels that come from Python).
"""

from __future__ import annotations

import re

from jinja2.ext import Extension
from markupsafe import Markup, escape

RULE = r"R\d+(?:\.\d+[a-z]?)?(?:\s*[–-]\s*R\d+(?:\.\d+[a-z]?)?)?"
#: One or more rule IDs with the separators that only serve them.
_RUN = re.compile(rf"(?:{RULE})(?:\s*(?:、|/|，|,|\s)\s*(?:{RULE}))*")
_EMPTY_PARENS = re.compile(r"（\s*[，、：]?\s*）|\(\s*\)")
_LEADING = re.compile(r"（\s*[，、：]\s*")
_TRAILING = re.compile(r"\s*[，、：]\s*）")
_OUTSIDE_TEXT = re.compile(r"(<[^>]*>|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\})", re.S)


def _mark(rules: list[str]) -> str:
    ids = "、".join(rules)
    return f'<span class="rule" title="依据规定 {ids}" data-rule="{ids}">※</span>'


def _rewrite(text: str, mark: bool = True) -> str:
    """Move every run of rule IDs out of ``text`` into one tooltip mark where it stood."""
    rules: list[str] = []
    out: list[str] = []
    position = 0
    for match in _RUN.finditer(text):
        before = text[position:match.start()]
        out.append(before[:-2] + "按规定" if before.endswith("按 ") else before)
        rules.extend(re.findall(RULE, match.group(0)))
        position = match.end()
        if text[position:position + 1] in ("：", ":"):  # "R8.1：交办后…" reads "交办后…"
            position += 1
        while text[position:position + 1] == " " and before.endswith("按 "):
            position += 1
    if not rules:
        return text
    out.append(text[position:])
    joined = "".join(out)
    joined = _LEADING.sub("（", _TRAILING.sub("）", joined))
    joined = _EMPTY_PARENS.sub("", joined).rstrip()
    if not mark:
        return joined
    # The mark closes the first sentence that cited a rule, or the text if none ends.
    cut = max(0, len(out[0]) - 2)  # out[0]: the text before the first rule, and its "（"
    ends = [i for i in (joined.find(c, cut) for c in "。；") if i >= 0]
    at = min(ends) if ends else len(joined)
    return joined[:at] + _mark(rules) + joined[at:]


class RuleTips(Extension):
    """Rewrite rule IDs in a template's literal text into tooltip marks at compile time."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        parts = _OUTSIDE_TEXT.split(source)
        # Odd indexes are tags and Jinja blocks; even ones are the text a person reads.
        return "".join(p if i % 2 else _rewrite(p) if p.strip() else p for i, p in enumerate(parts))


def rule_tips(value: object) -> Markup:
    """A label from Python with its rule IDs moved into a tooltip mark (the rest escaped)."""
    text = str(value)
    found = re.findall(RULE, text)
    if not found:
        return Markup(escape(text))
    return Markup(escape(_rewrite(text, mark=False))) + Markup(_mark(found))
