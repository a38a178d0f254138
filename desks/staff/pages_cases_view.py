"""How the case pages show stored values: Chinese labels, local times, deadline colours, masking.

Pure functions over rows and plain values, shared by the queue, inbox, search
and case pages, so that a state or a clock reads the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from contract.envelope import MACHINE_TEXT_MARK
from forwarder import words
from forwarder.calendar import WorkingCalendar
from forwarder.publication import mask_personal_data
from registrar.models import Case, Classification, Deadline, Role
from registrar.transcription import awaits_transcription

CHANNELS: dict[str, str] = {
    "web": "网站", "phone": "电话", "fax": "传真", "sms_modem": "短信", "sms_twilio": "短信",
    "twilio_voice": "电话留言", "email": "电子邮件",
}
# One name per state: the refusals name states with these same words (forwarder.words).
CASE_STATUS: dict[str, str] = words.CASE_STATE
ASSIGNMENT_STATE: dict[str, str] = words.ASSIGNMENT_STATE
ASSIGNMENT_ROLE: dict[str, str] = {
    "bureau": "信访局", "lead": "主办", "co": "协办", "coordination": "协调",
}
DEADLINE_KIND: dict[str, str] = {
    "dispatch": "交办", "read": "阅件", "answer": "答复", "review": "审核", "redo": "重办",
    "return_decision": "退回决定",
}
EVENT_ACTION: dict[str, str] = {
    "registered": "登记", "forwarded_to_city_bureau": "转市信访局", "transcribed": "语音转写",
    "accept": "受理", "not_accept": "不予受理", "screened": "甄别完成", "dispatch": "交办",
    "dispatched": "交办单位", "dispatch_on": "转出", "queued": "进入队列", "requeued": "重新进入队列",
    "read": "阅件", "draft": "起草答复", "approve": "分管领导审批", "submit": "提交答复",
    "contribute": "提交协办意见", "pass": "审核通过", "fail": "审核不通过，退回重办",
    "request_return": "申请退回", "return_accepted": "同意退回",
    "return_refused_dispatched": "不同意退回", "return_refused_read": "不同意退回",
    "return_refused_queued": "不同意退回", "answered": "已答复", "close": "办结",
    "reopen": "重新交办", "split": "拆分", "split_part": "拆分所得事项", "stop": "停止交办",
    "escalated": "提请政府协调", "overdue_handling": "逾期办理", "deadline_warning": "期限预警",
    "forwarded_late": "迟转", "deadline_recounted": "期限重算", "withdraw": "撤回",
    "coordinated": "协调完成", "late_dispatch": "交办逾期", "late_read": "阅件逾期",
    "late_review": "审核逾期", "late_redo": "重办逾期", "late_unit": "单位逾期",
    "efficiency_warning": "效能告诫", "escalated_to_efficiency_office": "报市效能办",
    "escalated_to_leader": "报单位分管领导", "finding_decided": "效能认定", "unit_notified": "已通知单位",
    "internal": "内部办理", "not_accepted": "不予受理", "stopped": "停止交办", "answer": "答复",
    "return_refused": "不同意退回", "forwarded": "转市信访局",
    "case_answer_on_call": "咨询当场解答并办结", "urged": "来电催办", "emergency_transfer": "紧急转接",
}
# Case-level moves are logged as "case_<action>" (workflow_base.move_case).
EVENT_ACTION.update({
    "case_accept": "受理", "case_not_accept": "不予受理", "case_dispatch": "案件交办",
    "case_split": "拆分交办（R8.7）", "case_answered": "全部答复审核通过", "case_reopen": "撤回重新交办",
    "case_close": "办结", "case_stop": "停止交办（R8.5b）",
    "case_parts_screened_out": "各部分均不予受理，整件办结（R8.7）",
})
# R8.3a: a unit's clocks wait while the bureau decides its return (forwarder.return_clocks).
EVENT_ACTION.update({"clocks_paused": "退回待决定，期限暂停", "clocks_resumed": "不同意退回，期限恢复",
                     "answer_photo": "附现场照片"})
# R12 回访 (forwarder.callbacks): the rating request, the citizen's rating and its follow-up.
EVENT_ACTION.update({
    "rating_requested": "发送回访评价短信", "callback_rated": "回访评价",
    "callback_dissatisfied": "回访不满意，待跟进", "callback_followed_up": "回访不满意已跟进",
    "callback_redo": "回访不满意，责成重新办理", "case_callback_redo": "回访不满意，重新办理",
})
NOTICE_KIND: dict[str, str] = {
    "receipt": "登记回执", "answer": "答复", "not_accepted": "不予受理告知", "internal": "内部办理告知",
    "stopped": "停止交办告知", "emergency_advice": "紧急求助提示", "rating_request": "回访评价请求",
    "rating_thanks": "评价致谢", "rating_followup": "不满意回复",
    "callback_redo": "责成重办告知", "keyword_reply": "短信指令回复",
}
NOTICE_STATUS: dict[str, str] = {
    "pending": "待发送", "sending": "发送中", "sent": "已发送", "delivered": "已送达", "failed": "发送失败",
    "cancelled": "已取消",
}
#: Openings of an answer a handler picks and completes (the draft form's template list).
ANSWER_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("已现场处理", "您反映的问题，我单位已于　月　日派员到现场核查处理，现已处理完毕。"
                  "具体情况：　。感谢您对城市管理工作的支持。"),
    ("已列入计划", "您反映的问题经现场核查属实。因　，暂无法立即解决，我单位已列入　年度计划，"
                  "预计于　月底前完成。"),
    ("不属本单位职责", "您反映的问题经核实不属于我单位职责范围，建议您向　反映，联系电话　。"),
    ("政策解释", "经查，根据　（文件名称及文号）第　条规定：　。您反映的情况　。如有疑问，可致电　咨询。"),
)
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
"""Files shown as thumbnails on the case page (TIFF fax originals show as their PNG pages)."""


def voice_transcript(case: Case) -> str:
    """What was heard on a recording, to show beside its player: the agent's transcription
    (the case text once it replaced the placeholder), else the machine's unchecked text,
    else "" (nobody has listened yet)."""
    if not awaits_transcription(case):
        return case.text
    _, mark, heard = case.text.partition(MACHINE_TEXT_MARK)
    return f"{mark}{heard}".strip() if mark else ""


#: Roles that work with the citizen and so see the whole contact (the agent calls back too).
FULL_CONTACT_ROLES = frozenset({Role.AGENT, Role.CITY_BUREAU, Role.DISTRICT_BUREAU, Role.UNIT_HANDLER,
                                Role.UNIT_LEADER, Role.DISCIPLINE})


#: A deadline's state in a word and a sign, so that colour is never the only cue.
DUE_SIGNS: dict[str, str] = {"due-ok": "", "due-soon": "⚠", "due-late": "✖", "due-met": "✓",
                             "due-met late-met": "✓", "due-cancelled": ""}


@dataclass(frozen=True, slots=True)
class DueView:
    """A clock as a page shows it: what, when, how long is left, and its colour class."""

    label: str
    at: str
    css: str
    provisional: bool = False
    rule: str = ""
    left: str = ""
    """"剩 2 个工作日", "今天到期", "已逾期 1 个工作日": the state in words beside the date."""

    @property
    def sign(self) -> str:
        return DUE_SIGNS.get(self.css, "")


class Clocks:
    """Formats times in the city's zone and colours deadlines against one "now"."""

    def __init__(self, zone: ZoneInfo, now: datetime, calendar: WorkingCalendar | None = None) -> None:
        self.zone, self.now, self.calendar = zone, now, calendar

    def left(self, due_at: datetime) -> str:
        """Working days left before an open deadline (its end is exclusive), in words."""
        if self.calendar is None:
            return ""
        today = self.now.astimezone(self.zone).date()
        last_day = (due_at - timedelta(microseconds=1)).astimezone(self.zone).date()
        if self.now >= due_at:
            late = self.calendar.working_days_between(last_day, today)
            return f"已逾期 {late} 个工作日" if late > 0 else "已逾期"
        days = self.calendar.working_days_between(today, last_day)
        return f"剩 {days} 个工作日" if days > 0 else "今天到期"

    def t(self, value: datetime | None) -> str:
        return value.astimezone(self.zone).strftime("%Y-%m-%d %H:%M") if value else "—"

    def until(self, value: datetime) -> str:
        """A deadline's exclusive end; midnight reads as the end of the day before (24:00)."""
        local = value.astimezone(self.zone)
        if (local.hour, local.minute, local.second) == (0, 0, 0):
            return (local - timedelta(days=1)).strftime("%Y-%m-%d") + " 24:00"
        return local.strftime("%Y-%m-%d %H:%M")

    def colour(self, due_at: datetime, warn_at: datetime) -> str:
        """due-late once due, due-soon once warned (R11.1 warning), due-ok before."""
        if self.now >= due_at:
            return "due-late"
        if self.now >= warn_at:
            return "due-soon"
        return "due-ok"

    def due(self, kind: str, due_at: datetime | None, warn_at: datetime | None, *,
            provisional: bool = False, rule: str = "") -> DueView | None:
        if due_at is None or warn_at is None:
            return None
        return DueView(DEADLINE_KIND.get(kind, kind), self.until(due_at), self.colour(due_at, warn_at),
                       provisional, rule, self.left(due_at))

    def deadline(self, row: Deadline) -> DueView:
        """A stored clock; a met one is shown without colour, a missed one stays red."""
        if row.cancelled:  # the duty went away (withdrawn, released): neither met nor late
            css = "due-cancelled"
        elif row.met_at is not None:
            css = "due-met late-met" if row.missed or row.met_at >= row.due_at else "due-met"
        else:
            css = self.colour(row.due_at, row.warn_at)
        label = DEADLINE_KIND.get(row.kind, row.kind) + ("（已取消）" if row.cancelled else "")
        open_ = not row.cancelled and row.met_at is None
        left = self.left(row.due_at) if open_ else ("逾期完成" if "late-met" in css else "")
        return DueView(label, self.until(row.due_at), css, row.provisional, row.rule, left)


def is_internal(case: Case) -> bool:
    """Internal by the bureau's classification, or by the citizen's choice (R6.4)."""
    return case.classification == Classification.INTERNAL or not case.public_allowed


def excerpt(text: str, length: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[:length] + "…"


def contact_for(role: str, value: str | None) -> str:
    """The citizen's contact: whole for those who reply to them, masked for anyone else."""
    if not value:
        return "—"
    return value if role in FULL_CONTACT_ROLES else mask_personal_data(value)
