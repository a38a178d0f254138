"""Account administration for the admin desk: create, deactivate, reset, revoke.

Part of the access layer, beside sign-in and tokens, so the organisation's
services in ``forwarder.admin`` never need to know how passwords are kept.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncSession

from desks.access.accounts import AccountError, create_account
from desks.access.auth import DEFAULT_HASHER, hash_password, revoke_tokens
from desks.access.sessions import end_sessions
from forwarder.admin import AdminError
from registrar.models import Account


def new_password() -> str:
    """A random initial password, shown once to the administrator who hands it over."""
    return secrets.token_urlsafe(12)


async def create_user(session: AsyncSession, *, username: str, display_name: str, role: str,
                      unit_code: str | None, now: datetime,
                      hasher: PasswordHasher = DEFAULT_HASHER) -> tuple[Account, str]:
    """A new account with a random password: (account, the password to show once)."""
    password = new_password()
    try:
        account = await create_account(session, username=username, display_name=display_name,
                                       role=role, unit_code=unit_code or None, password=password,
                                       now=now, hasher=hasher)
    except AccountError as exc:
        raise AdminError(str(exc)) from None
    return account, password


async def account_by_id(session: AsyncSession, account_id: int) -> Account:
    account = await session.get(Account, account_id, with_for_update=True)
    if account is None:
        raise AdminError(f"没有账号 {account_id} (no such account)")
    return account


async def set_account_active(session: AsyncSession, account_id: int, active: bool, *, now: datetime,
                             by_account_id: int) -> Account:
    """Deactivate (sign-in refused, sessions and tokens end) or reactivate an account."""
    account = await account_by_id(session, account_id)
    if not active and account.id == by_account_id:
        raise AdminError("不能停用自己的账号 (you cannot deactivate yourself)")
    account.active = active
    if not active:
        await revoke_tokens(session, account, now=now)
        await end_sessions(session, account.id, now=now)
    return account


async def reset_password(session: AsyncSession, account_id: int, *, now: datetime,
                         hasher: PasswordHasher = DEFAULT_HASHER) -> tuple[Account, str]:
    """A new random password (shown once); it ends the account's desk sessions."""
    account = await account_by_id(session, account_id)
    password = new_password()
    account.password_hash = hash_password(password, hasher=hasher)
    await end_sessions(session, account.id, now=now)
    return account, password


async def revoke_account_tokens(session: AsyncSession, account_id: int, *, now: datetime) -> int:
    """Revoke every live API token of the account; how many."""
    return await revoke_tokens(session, await account_by_id(session, account_id), now=now)
