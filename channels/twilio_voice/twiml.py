"""The call flow as pure functions: what the caller hears for each step, as TwiML text.

The menu offers what the SIP line offers (``channels/sip``): 1 leave a
complaint after the beep, 2 hear a case's progress by keying its digits,
0 speak to an agent. Each answer is a complete TwiML document; the webhook
(``webhook.py``) only picks the step from the request and fills in what needs
the database (a case's status) or the service (the screen pop).

Every URL in the TwiML is absolute, built on the public base URL: Twilio
resolves relative URLs against the URL it called, and a site served under a
path prefix would otherwise be called on the wrong path, with a signature that
can no longer match.

TwiML reference: https://www.twilio.com/docs/voice/twiml
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from channels.twilio_voice.settings import TwilioVoiceSettings

VOICE_PATH = "/channels/twilio/voice"
STATUS_PATH = "/channels/twilio/voice/status"
RECORDING_PATH = "/channels/twilio/voice/recording"
CASE_DIGITS = 14
"""A case number's digits: the date (8) and the day's sequence (6)."""

GREETING = "您好，这里是一二三四五市民服务热线。"
MENU = "留言反映诉求，请按一；查询办理进度，请按二；人工服务，请按零。"
WRONG_KEY = "您的输入有误。"
RECORD = "请在提示音后说出您的诉求、地点和联系方式，说完请按井号键或直接挂机。"
RECORDED = "您的留言已收到，登记后我们会以短信告知受理编号。再见。"
ASK_CASE = "请输入受理编号中的十四位数字，以井号键结束。"
BAD_CASE = "编号位数不对。"
CONNECTING = "正在为您转接人工服务，请稍候。"
NO_AGENT = "人工坐席暂时忙，请在提示音后留言。"
GOODBYE = "感谢您的来电，再见。"


class Choice(StrEnum):
    """What a key in the main menu means."""

    RECORD = "1"
    LOOKUP = "2"
    AGENT = "0"


def choice(digits: str) -> Choice | None:
    """The menu choice a keyed digit means; None for any other key (or none)."""
    try:
        return Choice(digits.strip()[:1])
    except ValueError:
        return None


def case_number(digits: str, prefix: str) -> str | None:
    """``FZ12345-20261124-000017`` from the 14 digits a caller keyed; None if not 14 digits."""
    keyed = re.sub(r"[^0-9]", "", digits)
    if len(keyed) != CASE_DIGITS:
        return None
    return f"{prefix}-{keyed[:8]}-{keyed[8:]}"


def spoken(text: str) -> str:
    """An answer meant for SMS, made for the ear: no brackets, a case number as the 14 digits
    the caller keyed, digits read one by one (not as a quantity), ending in one full stop."""
    text = re.sub(r"【[^】]*】", "", text)
    text = re.sub(r"(?<![A-Z0-9])[A-Z0-9]{2,12}-(\d{8})-(\d{6})(?!\d)", r"\1\2", text)
    text = re.sub(r"\d+", lambda m: " ".join(m.group(0)), text).strip()
    return text if text.endswith("。") else text + "。"


@dataclass(frozen=True, slots=True)
class Flow:
    """The settings and URLs every step needs."""

    settings: TwilioVoiceSettings

    def url(self, path: str, **query: str | int) -> str:
        """An absolute URL on the public base, with ``query`` (the step and its state)."""
        tail = f"?{urlencode(query)}" if query else ""
        return f"{self.settings.public_base_url}{path}{tail}"

    def _say(self, response: VoiceResponse, text: str) -> None:
        response.say(text, language="zh-CN", voice=self.settings.voice)

    def menu(self, attempt: int = 1, *, before: str = "") -> str:
        """The main menu; repeated ``menu_repeats`` times when the caller keys nothing."""
        response = VoiceResponse()
        gather = response.gather(input="dtmf", num_digits=1, timeout=6, method="POST",
                                 action=self.url(VOICE_PATH, step="menu", attempt=attempt))
        gather.say(before + (GREETING if attempt == 1 and not before else "") + MENU,
                   language="zh-CN", voice=self.settings.voice)
        if attempt < self.settings.menu_repeats:
            response.redirect(self.url(VOICE_PATH, step="menu", attempt=attempt + 1, silent=1),
                              method="POST")
        else:
            self._say(response, GOODBYE)
            response.hangup()
        return str(response.to_xml())

    def record(self, call_sid: str, signature: str, *, before: str = RECORD) -> str:
        """Record a voicemail; Twilio reports the finished file to the signed callback."""
        response = VoiceResponse()
        self._say(response, before)
        response.record(
            max_length=self.settings.max_recording_s, finish_on_key="#", play_beep=True,
            method="POST", action=self.url(VOICE_PATH, step="recorded"),
            recording_status_callback=self.url(RECORDING_PATH, call=call_sid, sig=signature),
            recording_status_callback_method="POST",
            recording_status_callback_event="completed absent")
        self._say(response, GOODBYE)
        response.hangup()
        return str(response.to_xml())

    def ask_case(self) -> str:
        """Ask for a case number's digits, ended by #."""
        response = VoiceResponse()
        gather = response.gather(input="dtmf", num_digits=CASE_DIGITS, finish_on_key="#",
                                 timeout=10, method="POST", action=self.url(VOICE_PATH, step="case"))
        gather.say(ASK_CASE, language="zh-CN", voice=self.settings.voice)
        response.redirect(self.url(VOICE_PATH, step="menu", attempt=1, silent=1), method="POST")
        return str(response.to_xml())

    def dial_agent(self) -> str:
        """Connect to the agents; when nobody answers, the ``dialled`` step offers voicemail."""
        response = VoiceResponse()
        self._say(response, CONNECTING)
        dial = response.dial(action=self.url(VOICE_PATH, step="dialled"), method="POST",
                             timeout=self.settings.dial_timeout_s)
        if self.settings.agent.startswith("sip"):
            dial.sip(self.settings.agent)
        else:
            dial.number(self.settings.agent)
        return str(response.to_xml())

    def goodbye(self, text: str = GOODBYE) -> str:
        """Say ``text`` and hang up."""
        response = VoiceResponse()
        self._say(response, text)
        response.hangup()
        return str(response.to_xml())
