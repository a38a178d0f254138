"""The menu's Mandarin prompts: their words, where their WAVs live, and how to make them.

The WAVs ship in ``channels/sip/prompts/`` (8 kHz mono PCM16, telephone band)
so a site needs no speech engine to run the line; ``python -m
channels.sip.prompts`` regenerates them with espeak-ng's ``cmn-latn-pinyin``
voice (plain ``-v cmn`` reads Chinese as English letters) and sox. Numbers are
written as characters (一二三), because digits are read as quantities. The
same ``synthesize`` speaks a case's status text at run time, when espeak-ng is
installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

PROMPT_DIR = Path(__file__).resolve().parent / "prompts"
VOICE = "cmn-latn-pinyin"

DIGITS = "零一二三四五六七八九"

TEXTS: dict[str, str] = {
    "welcome": "您好，欢迎致电一二三四五市民服务热线。",
    "menu": "反映问题或投诉，请按一；查询办理进度，请按二；人工服务，请按零。",
    "record_intro": "请在提示音后说出您反映的问题和地点，说完请按井号键。",
    "registered": "您的诉求已登记，受理编号是：",
    "repeat": "再说一遍，受理编号是：",
    "reply_by_sms": "办理结果将以短信告知您。",
    "anonymous_call_back": ("您的来电没有显示号码，我们无法回复您。"
                            "请记下受理编号，稍后致电一二三四五查询办理结果。"),
    "message_kept": "您的留言已经保存，系统将尽快为您登记办理。",
    "no_message": "没有听到您的留言。",
    "key_case_number": "请输入受理编号中的日期和序号，共十四位数字，以井号键结束。",
    "invalid_number": "编号输入有误。",
    "status_needs_number": "您的来电没有显示号码，无法查询。请用登记诉求时的电话号码致电查询。",
    "status_unavailable": "查询暂时无法进行，请稍后再试。",
    "agents_busy": "人工坐席正忙或不在服务时间，请您留言。",
    "invalid_choice": "输入有误。",
    "goodbye": "感谢您的来电，再见。",
    "busy": "线路繁忙，请稍后再拨。",
    "outcall_intro": "您好，这里是一二三四五热线。您的受理编号是：",
    "outcall_repeat": "重听请按一，结束请挂机。",
    "rating_thanks": "感谢您的评价，再见。",
    **{f"digit_{i}": ch for i, ch in enumerate(DIGITS)},
}

SILENT = {"pause": 0.4}
"""Prompts that are silence of this many seconds (between date and sequence)."""

TONE = "record_intro"
"""The prompt followed by the beep after which the recording starts."""


def path(name: str) -> Path:
    """Where the WAV of prompt ``name`` lives."""
    return PROMPT_DIR / f"{name}.wav"


def speakable(text: str) -> str:
    """Text espeak-ng reads well on a phone: digits one by one as characters, no brackets."""
    text = re.sub(r"[【】\[\]<>]", " ", text)
    return "".join(DIGITS[int(c)] if c.isascii() and c.isdigit() else c for c in text)


def synthesize(text: str, target: Path, *, tone: bool = False, silence_s: float = 0.0,
               voice: str = VOICE) -> None:
    """Write ``text`` (or ``silence_s`` of silence) as an 8 kHz mono WAV at ``target``.

    Needs ``espeak-ng`` (and ``sox`` for the telephone band and the beep);
    raises ``FileNotFoundError`` naming what is missing.
    """
    sox = shutil.which("sox")
    target.parent.mkdir(parents=True, exist_ok=True)
    raw = target.with_suffix(".raw.wav")
    if silence_s:
        if sox is None:
            raise FileNotFoundError("sox")
        subprocess.run([sox, "-n", "-r", "8000", "-c", "1", "-b", "16", str(target),
                        "trim", "0", str(silence_s)], check=True)
        return
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise FileNotFoundError("espeak-ng")
    subprocess.run([espeak, "-v", voice, "-s", "150", "-w", str(raw), speakable(text)],
                   check=True, capture_output=True, timeout=30)
    if sox is None:
        raw.replace(target)  # pjmedia resamples espeak's 22.05 kHz itself
        return
    # Trim espeak's leading and trailing silence: digits read back one by one stay brisk.
    effects = ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse",
               "pad", "0.05", "0.1", "gain", "-n", "-1"]
    if tone:  # a short pause, then a 0.4 s 1 kHz beep: "speak now"
        beep = target.with_suffix(".beep.wav")
        subprocess.run([sox, "-n", "-r", "8000", "-c", "1", "-b", "16", str(beep),
                        "synth", "0.4", "sine", "1000", "pad", "0.3", "0", "vol", "0.5"], check=True)
        subprocess.run([sox, str(raw), "-r", "8000", "-c", "1", "-b", "16", str(raw) + ".8k.wav",
                        *effects], check=True)
        subprocess.run([sox, str(raw) + ".8k.wav", str(beep), str(target)], check=True)
        Path(str(raw) + ".8k.wav").unlink()
        beep.unlink()
    else:
        subprocess.run([sox, str(raw), "-r", "8000", "-c", "1", "-b", "16", str(target), *effects],
                       check=True)
    raw.unlink()


def main() -> int:
    """Regenerate every prompt WAV in ``channels/sip/prompts/``."""
    for name, text in TEXTS.items():
        synthesize(text, path(name), tone=name == TONE)
        print(f"{name}: {text}")
    for name, seconds in SILENT.items():
        synthesize("", path(name), silence_s=seconds)
        print(f"{name}: {seconds} s silence")
    return 0


if __name__ == "__main__":
    sys.exit(main())
