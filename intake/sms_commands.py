"""Answers to citizens' SMS keywords (``CX <number>``, ``TD``), over the registrar.

A case's status is told only to the phone number that filed it (or the one it
replies to): anyone else gets the same "not found" as for a wrong number, so a
number cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contract.envelope import TryLater
from forwarder.rules import CITIZEN_STATUS
from registrar.models import Case, Contact

NOT_FOUND = "【12345】未找到编号为{number}的诉求，请核对编号；只能查询本手机号提交的诉求。"
STATUS = "【12345】您的诉求{number}：{status}。"
UNSUBSCRIBED = "【12345】已为您退订进度提醒短信；受理回执和办理结果仍会发送给您。"


@dataclass(slots=True)
class RegistrarSmsCommands:
    """``contract.sms_keywords.SmsCommands`` answered from the database."""

    sessionmaker: async_sessionmaker[AsyncSession]

    async def case_status(self, case_number: str, sender_e164: str) -> str:
        number = case_number.strip().upper()
        try:
            async with self.sessionmaker() as session:
                case = (await session.execute(select(Case).where(
                    Case.number == number,
                    or_(Case.sender == sender_e164, Case.reply_address == sender_e164),
                ))).scalar_one_or_none()
        except (SQLAlchemyError, OSError) as exc:
            raise TryLater("the registry is unavailable") from exc
        if case is None:
            return NOT_FOUND.format(number=number)
        return STATUS.format(number=case.number, status=CITIZEN_STATUS.get(case.status, case.status))

    async def unsubscribe(self, sender_e164: str) -> str:
        try:
            async with self.sessionmaker.begin() as session:
                await session.execute(update(Contact).where(
                    Contact.kind == "phone", Contact.address == sender_e164).values(opted_out=True))
        except (SQLAlchemyError, OSError) as exc:
            raise TryLater("the registry is unavailable") from exc
        return UNSUBSCRIBED
