"""Masking personal data before an item is published (DESIGN.md invariant 6, R9.3).

Phone numbers, ID card numbers, bank cards, emails, home addresses below the
street (house number, building, unit, room) and people's names are hidden;
what remains says what was done, and where in the city, without saying who
asked or about whom.

Names are the hard part: Chinese text has no capitals. A name is masked when
it is given (the citizen's own, from the contact), or when the text itself marks
it as a person: a self-introduction (我叫张三, 本人李四), a role before it
(邻居王五, 物业经理赵六) or a form of address after it (张三先生). Once found in
either text, a name is masked everywhere in both, so an answer that names
the citizen plainly ("已联系张三") is masked by the complaint's "我叫张三".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_ID_CARD = re.compile(
    r"(?<![0-9])([1-9][0-9]{5})(?:19|20)[0-9]{2}[01][0-9][0-3][0-9][0-9]{3}[0-9Xx](?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?(1[3-9][0-9])[- ]?([0-9]{4})[- ]?([0-9]{4})(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(0[1-9][0-9]{1,2})[- ]?([0-9]{3,4})[- ]?([0-9]{4})(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_LONG_DIGITS = re.compile(r"(?<![0-9])[0-9]{12,19}(?![0-9])")

#: Below the street: house number, building, unit, floor, room ("12号3单元502室").
#: "号线" (a metro line) is a place anyone may name, not a home.
_HOME = re.compile(r"(?:[0-9０-９]+(?:[-－][0-9０-９]+)?(?:号楼|号(?!线)|栋|幢|座|单元|层|楼|室|户))+")

#: The common surnames (single and double); a name is a surname and one or two characters.
_SURNAMES = ("欧阳|司马|诸葛|上官|东方|皇甫|令狐|慕容|"
             "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余"
             "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史"
             "陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤翁柯洪庄詹游颜施")
_DOUBLE, _SINGLE = _SURNAMES.rsplit("|", 1)
_NAME = rf"(?:(?:{_DOUBLE})|[{_SINGLE}])[\u4e00-\u9fff]{{1,2}}"
_NAME2 = rf"(?:(?:{_DOUBLE})|[{_SINGLE}])[\u4e00-\u9fff]"
_ROLES = ("我叫|本人|我是|诉求人|来电人|市民|居民|业主|租户|房东|邻居|老板|店主|经理|主任|保安|"
          "司机|师傅|工作人员|队员|村民|同事|家属|母亲|父亲|儿子|女儿|丈夫|妻子")
#: A person marked by a role or self-introduction before the name, or an address after it.
_MARKED = (re.compile(rf"(?:{_ROLES})[:：]?({_NAME})(?=[，,。；;、\s（(）)]|$|反映|称|说|投诉|表示|家|的)"),
           re.compile(rf"({_NAME2})(?=先生|女士|小姐|阿姨|大爷|师傅|同志)"))


def names_in(text: str) -> list[str]:
    """Names the text itself marks as people's (see the module docstring)."""
    found: dict[str, None] = {}
    for pattern in _MARKED:
        for match in pattern.finditer(text):
            found[match.group(1)] = None
    return list(found)


def mask_personal_data(text: str, *, names: Iterable[str] = ()) -> str:
    """Return ``text`` with personal data replaced by asterisks; ``names`` are masked
    wherever they appear, besides the names ``text`` itself marks."""
    out = _ID_CARD.sub(lambda m: m.group(1) + "*" * 12, text)
    out = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", out)
    out = _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(3)}", out)
    out = _EMAIL.sub("***@***", out)
    out = _LONG_DIGITS.sub(lambda m: "*" * (len(m.group(0)) - 4) + m.group(0)[-4:], out)
    out = _HOME.sub("**", out)
    every = {n.strip() for n in (*names, *names_in(text)) if len(n.strip()) >= 2}
    for name in sorted(every, key=len, reverse=True):  # 张三丰 before 张三
        out = out.replace(name, name[0] + "*" * (len(name) - 1))
    return out


def mask_for_publication(complaint: str, answer: str, *,
                         names: Iterable[str] = ()) -> tuple[str, str]:
    """The complaint and the answer as published: a name found in either is masked in both."""
    every = [*names, *names_in(complaint), *names_in(answer)]
    return mask_personal_data(complaint, names=every), mask_personal_data(answer, names=every)
