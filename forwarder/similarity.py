"""Chinese text similarity for repeat detection (R8.5).

``similarity`` is Dice over character bigrams: word segmentation is not needed to tell
two wordings of one complaint apart from two complaints. Used alone it misjudged the
cases that matter: the same citizen writing "上周反映过五四路120号工地晚上太吵" scored
0.28 against the first report (other words around the same issue), while "五四路120号门口
路灯不亮" scored 0.43 against it (same address, another issue). ``repeat_score`` therefore
weighs three things apart, as a person reading both would:

* the issue: the bigram Dice of the texts with places, filler and repeat cues taken out,
  a few everyday synonyms folded (晚上→夜间, 太吵→噪音);
* the place: whether both name the same road, building or site (or the same
  location the agent filed); two different places lower the score;
* the cue: the new text says it was reported before (反映过, 上周, 又, 还是没…).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)
#: Roads, estates, sites and numbers: "五四路120号", "金山大道", "金辉小区", "3号楼".
#: A name is the two characters before the kind (五四|路, 金山|大道): what people repeat of it.
_PLACE = re.compile(r"[\u4e00-\u9fff]{2}(?:大道|路|街|巷|弄|小区|花园|苑|村|广场|公园|市场|桥)"
                    r"(?![灯面边况线])(?:\d+号)?|\d+号(?:楼|院)?")
_CUES = ("反映过", "投诉过", "上次", "上周", "上个月", "之前", "此前", "再次", "又", "还是", "仍然",
         "依然", "依旧", "至今", "还没", "一直没")
_FILLER = ("的问题", "问题", "情况", "请尽快处理", "请处理", "希望", "到现在", "现在", "那个", "这个")
_SYNONYMS = (("晚上", "夜间"), ("半夜", "夜间"), ("太吵", "噪音"), ("很吵", "噪音"), ("吵", "噪音"),
             ("坏了", "故障"), ("不亮", "不亮"), ("没盖", "缺失"))
WEIGHTS = {"issue": 0.6, "place": 0.25, "cue": 0.15}
OTHER_PLACE = 0.6
"""Both texts name places and none is shared: likely two issues, whatever the words."""


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _bigrams(text: str) -> Counter[str]:
    folded = _NOISE.sub("", _fold(text))
    if len(folded) < 2:
        return Counter([folded]) if folded else Counter()
    return Counter(folded[i:i + 2] for i in range(len(folded) - 1))


def similarity(a: str, b: str) -> float:
    """0.0 (nothing shared) to 1.0 (same characters in the same pairs)."""
    x, y = _bigrams(a), _bigrams(b)
    total = sum(x.values()) + sum(y.values())
    if not total:
        return 0.0
    return 2 * sum((x & y).values()) / total


def places(text: str, location: str | None = None) -> set[str]:
    """The places a text (and the filed location) names, numbers kept: 五四路120号, 金山大道."""
    found = set(_PLACE.findall(_fold(text)))
    if location:
        found |= set(_PLACE.findall(_fold(location))) or {_fold(location).strip()}
    return found


def issue_words(text: str) -> str:
    """The text without places, filler and repeat cues, everyday synonyms folded."""
    folded = _PLACE.sub("", _fold(text))
    for word in (*_CUES, *_FILLER):
        folded = folded.replace(word, "")
    for word, same in _SYNONYMS:
        folded = folded.replace(word, same)
    return folded


def says_again(text: str) -> bool:
    """The text says the issue was reported before."""
    folded = _fold(text)
    return any(cue in folded for cue in _CUES)


def repeat_score(new_text: str, old_text: str, *, new_location: str | None = None,
                 old_location: str | None = None) -> float:
    """How likely ``new_text`` reports again the issue of ``old_text`` (same citizen), 0–1."""
    issue = similarity(issue_words(new_text), issue_words(old_text))
    here, there = places(new_text, new_location), places(old_text, old_location)
    cue = 1.0 if says_again(new_text) else 0.0
    if not here or not there:  # nothing to compare places by: the issue carries their weight
        return min(1.0, issue * (WEIGHTS["issue"] + WEIGHTS["place"]) + cue * WEIGHTS["cue"])
    if any(a.startswith(b) or b.startswith(a) for a in here for b in there):  # 五四路 ~ 五四路120号
        return min(1.0, issue * WEIGHTS["issue"] + WEIGHTS["place"] + cue * WEIGHTS["cue"])
    return (issue * WEIGHTS["issue"] + cue * WEIGHTS["cue"]) * OTHER_PLACE
