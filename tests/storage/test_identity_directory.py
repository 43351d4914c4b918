"""Binding by an organisation directory (DingTalk, WeCom): the entry must name the person."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.app import App
from storage import identity
from storage.errors import CodeRequired
from storage.models import ChatAccount, Person


def _person(app: App, number: str) -> Person:
    with app.uow() as s:
        person = s.scalars(select(Person).where(Person.number == number)).one()
        s.expunge(person)
        return person


def test_the_job_number_or_the_mobile_matches(app: App) -> None:
    person = _person(app, "2020001")
    person.phone = "138-0013-8000"
    assert identity.directory_matches(person, "2020001", "")
    assert identity.directory_matches(person, "", "+86 13800138000")
    assert not identity.directory_matches(person, "2020002", "")
    assert not identity.directory_matches(person, "", "13900139000")
    assert not identity.directory_matches(person, "", "")
    person.phone = None
    assert not identity.directory_matches(person, "", "13800138000")


def _bind(app: App, number: str, name: str, directory: tuple[str, str] | None) -> None:
    with app.uow() as s:
        identity.bind_account(
            s,
            platform="dingtalk",
            user_id="dt-user",
            display_name=name,
            number=number,
            name=name,
            group=None,
            code=None,
            now=app.clock.now(),
            directory=directory,
        )


def test_a_matching_entry_binds_in_private_without_a_code(app: App) -> None:
    _bind(app, "2020001", "张晓明", ("2020001", ""))
    with app.uow(readonly=True) as s:
        account = s.scalars(
            select(ChatAccount).where(ChatAccount.platform_user_id == "dt-user")
        ).one()
        assert account.person_id == _person(app, "2020001").id


@pytest.mark.parametrize("directory", [None, ("2020002", ""), ("", "")])
def test_without_a_matching_entry_a_code_is_needed(
    app: App, directory: tuple[str, str] | None
) -> None:
    with pytest.raises(CodeRequired):
        _bind(app, "2020001", "张晓明", directory)
