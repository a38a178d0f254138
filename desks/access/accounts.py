"""Accounts: who may sign in, in which role, for which unit; and the demo's accounts.

A role only makes sense in a unit of the matching kind (a unit leader of the
city bureau would be a contradiction the workflow cannot interpret), so
``create_account`` refuses the mismatch.
"""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.organisation import UnitKind
from desks.access.auth import DEFAULT_HASHER, hash_password
from forwarder.words import said
from registrar.models import Account, Role, Unit

K = UnitKind
_HANDLING = frozenset({K.CITY_UNIT, K.DISTRICT_UNIT, K.DISCIPLINE, K.EFFICIENCY, K.GOV_OFFICE})

#: role → the unit kinds it may belong to; ``None`` in the set means "no unit" is allowed.
ROLE_UNIT_KINDS: dict[Role, frozenset[str | None]] = {
    Role.AGENT: frozenset({K.SERVICE_CENTRE}),
    Role.CITY_BUREAU: frozenset({K.CITY_BUREAU}),
    Role.DISTRICT_BUREAU: frozenset({K.DISTRICT_BUREAU}),
    Role.UNIT_HANDLER: frozenset(_HANDLING),
    Role.UNIT_LEADER: frozenset(_HANDLING),
    Role.DISCIPLINE: frozenset({K.DISCIPLINE}),
    Role.EFFICIENCY: frozenset({K.EFFICIENCY}),
    Role.ADMIN: frozenset({None, *K}),
}


class AccountError(ValueError):
    """An account that cannot be made as asked (bad role, unit, name or password)."""


async def create_account(session: AsyncSession, *, username: str, display_name: str, role: str,
                         unit_code: str | None, password: str, now: datetime,
                         hasher: PasswordHasher = DEFAULT_HASHER) -> Account:
    """Add an account; its role must fit its unit's kind and the password be long enough."""
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise AccountError("用户名为 1–64 个字符，不能有空格")
    if not display_name.strip():
        raise AccountError("请填写姓名")
    try:
        the_role = Role(role)
    except ValueError:
        raise AccountError("请从列表中选择角色") from None
    unit = None
    if unit_code:
        unit = (await session.execute(select(Unit).where(Unit.code == unit_code))).scalar_one_or_none()
        if unit is None:
            raise AccountError("没有这个单位，请从列表中选择")
    if (unit.kind if unit else None) not in ROLE_UNIT_KINDS[the_role]:
        raise AccountError(f"角色“{said(the_role)}”与所属单位不符："
                           + (f"{unit.name}不能设此角色" if unit else "此角色须关联单位"))
    if (await session.execute(select(Account.id).where(Account.username == username))).first():
        raise AccountError(f"用户名 {username} 已被使用")
    try:
        password_hash = hash_password(password, hasher=hasher)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    account = Account(username=username, display_name=display_name.strip(),
                      password_hash=password_hash, role=the_role,
                      unit_id=unit.id if unit else None, active=True, created_at=now)
    session.add(account)
    await session.flush()
    return account


#: The demo's people, one per role (and a second district for isolation):
#: (username, display name, role, unit code). Each password is ``demo-12345-<username>``.
DEMO_ACCOUNTS: tuple[tuple[str, str, Role, str | None], ...] = (
    ("agent", "李秀英", Role.AGENT, "service-centre"),
    ("city", "黄国平", Role.CITY_BUREAU, "city-bureau"),
    ("gulou", "鼓楼区信访局值班员", Role.DISTRICT_BUREAU, "gulou-bureau"),
    ("taijiang", "台江区信访局值班员", Role.DISTRICT_BUREAU, "taijiang-bureau"),
    ("urban", "郑建华", Role.UNIT_HANDLER, "city-urban"),
    ("urban-leader", "高静怡", Role.UNIT_LEADER, "city-urban"),
    ("gulou-urban", "鼓楼区城管经办人", Role.UNIT_HANDLER, "gulou-urban"),
    ("gulou-urban-leader", "鼓楼区城管分管领导", Role.UNIT_LEADER, "gulou-urban"),
    ("discipline", "孙慧敏", Role.DISCIPLINE, "city-discipline"),
    ("efficiency", "胡立新", Role.EFFICIENCY, "city-efficiency"),
    ("admin", "系统管理员", Role.ADMIN, None),
)


def demo_password(username: str) -> str:
    """The documented demo password: never use the demo accounts outside a demo."""
    return f"demo-12345-{username}"


async def seed_demo_accounts(session: AsyncSession, now: datetime, *,
                             hasher: PasswordHasher = DEFAULT_HASHER
                             ) -> list[tuple[str, str, str, str | None]]:
    """Create the demo accounts that do not exist yet (idempotent).

    Returns (username, password, role, unit code) for every demo account, so
    ``hotline demo seed`` can print how to sign in.
    """
    existing = set((await session.execute(select(Account.username))).scalars())
    for username, name, role, unit in DEMO_ACCOUNTS:
        if username not in existing:
            await create_account(session, username=username, display_name=name, role=role,
                                 unit_code=unit, password=demo_password(username), now=now,
                                 hasher=hasher)
    return [(u, demo_password(u), str(r), unit) for u, _, r, unit in DEMO_ACCOUNTS]
