"""The voice menu as a pure state machine: every path a caller can take, without SIP."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.sip.menu import (
    Action,
    AgentsOffered,
    Answered,
    AskAgent,
    AskStatus,
    Digit,
    Discarded,
    Event,
    HangUp,
    Hangup,
    Kept,
    Menu,
    Play,
    PromptDone,
    Record,
    Registered,
    Silence,
    StartTimer,
    StatusText,
    Step,
    StopRecord,
    Timeout,
    Transfer,
    TransferDone,
    readback,
)


def menu(*, anonymous: bool = False) -> Menu:
    return Menu(anonymous=anonymous, choice_timeout_s=5, digit_timeout_s=4, max_record_s=60)


def run(m: Menu, *events: Event) -> list[Action]:
    """Feed events; a PromptDone/Timeout without token means "the current one"."""
    actions: list[Action] = []
    for event in events:
        if isinstance(event, PromptDone) and event.token == -1:
            event = PromptDone(m.token)
        if isinstance(event, Timeout) and event.token == -1:
            event = Timeout(m.token)
        actions = m.handle(event)
    return actions


DONE, TIMEOUT = PromptDone(-1), Timeout(-1)


def test_answer_plays_welcome_and_menu_then_waits_for_a_key() -> None:
    m = menu()
    assert run(m, Answered()) == [Play(("welcome", "menu"), 1)]
    assert run(m, DONE) == [StartTimer(5, 2)]
    assert m.step is Step.CHOOSING


def test_key_1_records_until_pound_then_reads_the_number_back_and_hangs_up() -> None:
    m = menu()
    assert run(m, Answered(), Digit("1")) == [Play(("record_intro",), 2)]
    assert run(m, DONE) == [Record(), StartTimer(60, 3)]
    assert run(m, Digit("5"), Digit("#")) == [StopRecord()]
    [play] = run(m, Registered("FZ12345-20261124-000017"))
    assert isinstance(play, Play) and play.items == readback("FZ12345-20261124-000017", anonymous=False)
    assert run(m, DONE) == [HangUp()] and m.step is Step.ENDED


def test_readback_reads_date_and_sequence_digit_by_digit_twice() -> None:
    items = readback("FZ12345-20261124-000017", anonymous=False)
    date = ("digit_2", "digit_0", "digit_2", "digit_6", "digit_1", "digit_1", "digit_2", "digit_4")
    seq = ("digit_0", "digit_0", "digit_0", "digit_0", "digit_1", "digit_7")
    number = (*date, "pause", *seq)
    assert items == ("registered", *number, "repeat", *number, "reply_by_sms", "goodbye")
    assert readback("FZ12345-20261124-000017", anonymous=True, times=1)[-2:] == (
        "anonymous_call_back", "goodbye")


@pytest.mark.parametrize("end", [Silence(), TIMEOUT], ids=["silence", "maximum"])
def test_silence_or_the_maximum_ends_a_message_like_pound(end: Event) -> None:
    m = menu()
    run(m, Answered(), Digit("1"), DONE)
    assert run(m, end) == [StopRecord()]


def test_hang_up_mid_recording_keeps_what_was_said() -> None:
    m = menu()
    run(m, Answered(), Digit("1"), DONE)
    assert run(m, Hangup()) == [StopRecord()]
    assert m.step is Step.ENDED and run(m, Registered("FZ1")) == []


@pytest.mark.parametrize("step_events", [
    [], [Answered()], [Answered(), Digit("1")], [Answered(), Digit("2"), Digit("3")],
    [Answered(), Digit("0")], [Answered(), Digit("1"), DONE, Digit("#")]])
def test_hang_up_at_any_other_step_asks_for_nothing(step_events: list[Event]) -> None:
    m = menu()
    run(m, *step_events)
    assert run(m, Hangup()) == [] and m.step is Step.ENDED


def test_store_down_tells_the_caller_the_message_is_kept() -> None:
    m = menu()
    run(m, Answered(), Digit("1"), DONE, Digit("#"))
    assert run(m, Kept()) == [Play(("message_kept", "goodbye"), m.token)]


def test_an_empty_recording_is_no_message() -> None:
    m = menu()
    run(m, Answered(), Digit("1"), DONE, Digit("#"))
    assert run(m, Discarded()) == [Play(("no_message", "goodbye"), m.token)]


def test_key_2_collects_fourteen_digits_and_asks_for_the_status() -> None:
    m = menu()
    run(m, Answered(), Digit("2"))
    actions: list[Action] = []
    for d in "20261124000017":
        actions = run(m, Digit(d))
    assert actions == [AskStatus("20261124000017")]
    [play] = run(m, StatusText("【12345】您的诉求…：办理中。"))
    assert isinstance(play, Play) and play.items == ("say:【12345】您的诉求…：办理中。", "goodbye")


def test_key_2_pads_a_short_sequence_ended_by_pound() -> None:
    m = menu()
    run(m, Answered(), Digit("2"), *[Digit(d) for d in "2026112417"])
    assert run(m, Digit("#")) == [AskStatus("20261124000017")]


def test_key_2_status_unavailable_has_its_own_prompt() -> None:
    m = menu()
    run(m, Answered(), Digit("2"), *[Digit(d) for d in "20261124000017"])
    assert run(m, StatusText("")) == [Play(("status_unavailable", "goodbye"), m.token)]


def test_dtmf_garbage_is_refused_three_times_then_goodbye() -> None:
    m = menu()
    run(m, Answered(), Digit("2"))
    assert run(m, *[Digit("9")] * 3, Digit("#")) == [Play(("invalid_number", "key_case_number"), m.token)]
    run(m, *[Digit("9")] * 40)  # 40 digits: over fourteen, the first fourteen are submitted
    assert m.step is Step.STATUS_WAIT
    m2 = menu()
    run(m2, Answered(), Digit("*"), Digit("*"))
    assert run(m2, Digit("*")) == [Play(("invalid_choice", "goodbye"), m2.token)]


def test_withheld_number_cannot_ask_for_a_status() -> None:
    m = menu(anonymous=True)
    assert run(m, Answered(), Digit("2")) == [Play(("status_needs_number", "goodbye"), m.token)]


def test_key_0_or_no_key_goes_to_an_agent_and_bridges() -> None:
    for events in ([Answered(), Digit("0")], [Answered(), DONE, TIMEOUT]):
        m = menu()
        assert run(m, *events) == [AskAgent()]
        assert run(m, AgentsOffered(available=True)) == [Transfer()]
        assert run(m, TransferDone(connected=True)) == [] and m.step is Step.CONNECTED


@pytest.mark.parametrize("refusal", [AgentsOffered(available=False), TransferDone(connected=False)])
def test_no_agent_free_or_after_hours_leads_to_the_voicemail(refusal: Event) -> None:
    m = menu()
    run(m, Answered(), Digit("0"))
    if isinstance(refusal, TransferDone):
        run(m, AgentsOffered(available=True))
    assert run(m, refusal) == [Play(("agents_busy", "record_intro"), m.token)]
    assert run(m, DONE) == [Record(), StartTimer(60, m.token)]


def test_a_stale_prompt_end_or_timer_changes_nothing() -> None:
    m = menu()
    run(m, Answered(), Digit("1"))  # the menu prompt (token 1) was cut short by the key
    assert run(m, PromptDone(1)) == [] and m.step is Step.RECORD_INTRO


EVENTS = st.one_of(
    st.builds(Digit, st.sampled_from(list("0123456789*#"))), st.builds(PromptDone, st.integers(0, 30)),
    st.builds(Timeout, st.integers(0, 30)), st.just(Silence()), st.just(Answered()),
    st.builds(Registered, st.just("FZ12345-20261124-000017")), st.just(Kept()), st.just(Discarded()),
    st.builds(StatusText, st.text(max_size=5)), st.builds(AgentsOffered, st.booleans()),
    st.builds(TransferDone, st.booleans()))


@given(st.lists(EVENTS, max_size=60))
def test_any_event_sequence_never_raises_and_records_are_always_stopped(events: list[Event]) -> None:
    m = menu()
    recording = False
    for event in [*events, Hangup()]:
        for action in m.handle(event):
            if isinstance(action, Record):
                recording = True
            elif isinstance(action, StopRecord):
                recording = False
    assert not recording and m.step is Step.ENDED
