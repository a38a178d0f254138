"""The one name of each state, action and role, in the words the regulation and the staff use.

Refusals (``WorkflowError``, ``forwarder.allowed``) are read by people at the desk and
by API clients alike, so they are written in Chinese here with these names; the desk
pages show the same names for the same states (``desks.staff.pages_cases_view``
imports them), so a state never has two names on two screens.
"""

from __future__ import annotations

CASE_STATE: dict[str, str] = {
    "registered": "已登记待甄别", "not_accepted": "不予受理", "accepted": "已受理待交办",
    "dispatched": "办理中", "split": "已拆分办理", "answered": "已答复待发布", "closed": "已办结",
    "stopped": "已停止交办",
}
ASSIGNMENT_STATE: dict[str, str] = {
    "queued": "待处理", "dispatched": "已交办未阅", "read": "已阅办理中", "drafted": "已起草待审批",
    "approved": "领导已审批", "submitted": "已提交待审核", "passed": "审核通过", "redo": "退回重办",
    "contributed": "已提交协办意见", "return_requested": "申请退回", "done": "已完成",
    "withdrawn": "已撤回",
}
ACTION: dict[str, str] = {
    "accept": "受理", "accept_dispatch": "受理并交办", "not_accept": "不予受理", "dispatch": "交办",
    "dispatch_on": "交办",
    "split": "拆分", "splitting": "拆分", "stop": "停止交办", "stopping a repeat": "停止交办重复诉求",
    "escalate": "提请协调", "publication": "决定是否公开", "repeats": "查看重复诉求",
    "read": "阅件", "reading": "阅件", "draft": "起草答复", "drafting": "起草答复",
    "approve": "审批答复", "approval": "审批答复", "approve_submit": "审批并报送答复",
    "submit": "提交答复", "answering": "提交答复",
    "return": "申请退回", "request_return": "申请退回", "return_decision": "决定退回申请",
    "deciding a return": "决定退回申请", "return_accepted": "同意退回", "review": "审核答复",
    "pass": "审核通过", "fail": "退回重办", "coordinate": "提出协调意见",
    "coordination": "提出协调意见", "coordinated": "提出协调意见", "contribute": "提交协办意见",
    "close": "办结", "reopen": "重新交办", "withdraw": "撤回", "screened": "甄别",
    "screening": "甄别", "answered": "答复", "findings": "查看效能认定",
    "callback_redo": "责成重新办理", "callback_follow_up": "跟进回访不满意",
    "following up a call-back": "跟进回访不满意",
    "decide_finding": "作出效能认定", "hand_notice": "发出通报", "contest_finding": "申诉",
}
ROLE: dict[str, str] = {
    "agent": "坐席", "city_bureau": "市信访局", "district_bureau": "区信访局",
    "unit_handler": "承办单位经办人", "unit_leader": "承办单位分管领导", "discipline": "纪委监委",
    "efficiency": "效能办", "admin": "系统管理员", "system": "系统",
}
#: Who an action belongs to, where a refusal names a body rather than a unit.
BODY: dict[str, str] = {"the city bureau": "市信访局", "the bureau that dispatched it": "交办的信访局",
                        "the reviewing bureau": "审核的信访局"}


def said(value: str) -> str:
    """The Chinese name of a state, action, role or body; "此操作" for one we never name."""
    for table in (CASE_STATE, ASSIGNMENT_STATE, ACTION, ROLE, BODY):
        if value in table:
            return table[value]
    return "此操作"


def did(action: str) -> str:
    """The Chinese name of an action ("split" is also a state: here it is the verb 拆分)."""
    return ACTION.get(action, said(action))


def held(state: str) -> str:
    """The Chinese name of an assignment's state ("dispatched" there is 已交办未阅)."""
    return ASSIGNMENT_STATE.get(state, said(state))
