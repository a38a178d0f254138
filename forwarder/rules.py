"""The regulation's coded reasons, as data the workflow, notices and desks share."""

from __future__ import annotations

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

#: Working days of each clock.
DISPATCH_DAYS = 1  # R7.2, R7.3
READ_DAYS = 2  # R8.1
ANSWER_DAYS = 10  # R8.2a
RETURN_WINDOW_DAYS = 2  # R8.3a
DISTRICT_RETURN_WINDOW_DAYS = 1  # R8.3c
RETURN_DECISION_DAYS = 1  # R8.3d
REVIEW_DAYS = 2  # R8.4a
REDO_DAYS = 3  # R8.4b
REPEAT_ANSWERS_BEFORE_STOP = 3  # R8.5b: "more than three times"
