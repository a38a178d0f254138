"""The regulation's coded reasons, as data the workflow, notices and desks share."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from config.settings import DEFAULT_REGULATION_FILE, ConfigError

#: How a case's status is told to its citizen (SMS "CX", the status page, the console's
#: caller history). Staff desks use their own shorter labels.
CITIZEN_STATUS: dict[str, str] = {
    "registered": "已登记，等待受理",
    "not_accepted": "不予受理（理由已另行告知）",
    "accepted": "已受理，正在转办",
    "dispatched": "已转交承办单位办理",
    "split": "已分项转交各承办单位办理",
    "answered": "已答复，正在审核发布",
    "closed": "已办结，答复已发送",
    "stopped": "此前已多次答复，不再转办",
}

#: Article 3: items not accepted (不予受理).
NOT_ACCEPTED_REASONS: dict[str, str] = {
    "R3.1": "违反宪法和法律法规",
    "R3.2": "煽动颠覆国家政权",
    "R3.3": "捏造事实、散布谣言",
    "R3.4": "侮辱、诽谤或恶意攻击他人",
    "R3.5": "不属于本市管辖范围",
    "R3.6": "已进入诉讼、行政复议或仲裁程序",
    "R3.7": "责任单位尚未纳入12345系统",
    "R3.8": "属于需要紧急救助的事项",
    "R3.9": "不属于行政职能范围",
}

#: What a citizen is told to do for each reason, where there is something to do.
NOT_ACCEPTED_ADVICE: dict[str, str] = {
    "R3.5": "请向有管辖权的地方或部门反映。",
    "R3.6": "请按诉讼、行政复议或仲裁程序办理。",
    "R3.8": "请立即拨打110（报警）、122（交通事故）、119（火警）或120（急救）。",
}

#: Article 6: why an item is handled internally.
INTERNAL_REASONS: dict[str, str] = {
    "R6.1": "反映党员干部违纪违法问题（纪委监委办理）",
    "R6.2": "反映机关干部效能问题（效能办办理）",
    "R6.3": "可能与事实出入较大或经信访局研究需内部办理",
    "R6.4": "诉求人不同意公开",
}

#: The unit kind an internal item of this reason must go to (R6.1, R6.2).
INTERNAL_UNIT_KIND: dict[str, str] = {"R6.1": "discipline", "R6.2": "efficiency"}

# --- R13.1: the clocks, as configuration with effective dates ---------------------------

REGULATION_FILE = DEFAULT_REGULATION_FILE
"""The shipped revisions; a site names its own with the ``regulation_file`` setting."""


@dataclass(frozen=True, slots=True)
class Clocks:
    """The working-day counts of one revision of the regulation."""

    name: str
    effective: date
    dispatch_days: int
    read_days: int
    answer_days: int
    return_window_days: int
    district_return_window_days: int
    return_decision_days: int
    review_days: int
    redo_days: int
    repeat_answers_before_stop: int
    late_reads_per_warning: int


_FIELDS = [f for f in Clocks.__dataclass_fields__ if f not in ("name", "effective")]


def load_revisions(path: Path = REGULATION_FILE) -> tuple[Clocks, ...]:
    """Read and check the revisions, oldest first; a bad file names the revision and key."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    out = []
    for index, raw in enumerate(data.get("revision", [])):
        where = f"{path}: revision[{index}]"
        if not isinstance(raw.get("effective"), date) or not isinstance(raw.get("name"), str):
            raise ConfigError(f"{where}: needs name and an effective date (YYYY-MM-DD)")
        unknown = set(raw) - {"name", "effective", *_FIELDS}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        for key in _FIELDS:
            if not isinstance(raw.get(key), int) or raw[key] < 0:
                raise ConfigError(f"{where}.{key}: a whole number of working days >= 0 is required")
        out.append(Clocks(**raw))
    if not out:
        raise ConfigError(f"{path}: no [[revision]]")
    return tuple(sorted(out, key=lambda c: c.effective))


@cache
def default_revisions() -> tuple[Clocks, ...]:
    """The shipped file's revisions, read on first use (never at import): for code and
    tests that are handed no settings. The service reads ``settings.regulation_path``."""
    return load_revisions(REGULATION_FILE)


def clocks_at(moment: datetime | date | None = None, *,
              revisions: tuple[Clocks, ...] | None = None) -> Clocks:
    """The revision in force at ``moment`` (today when None): deadlines follow the rules of
    the day the clock starts. ``revisions`` come from the settings; left out, the shipped
    file's."""
    table = revisions or default_revisions()
    day = moment.date() if isinstance(moment, datetime) else moment or date.today()
    current = table[0]
    for revision in table:
        if revision.effective <= day:
            current = revision
    return current

