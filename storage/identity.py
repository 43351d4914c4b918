"""Who is speaking: chat accounts bound to roster people, group chats bound to classes,
one-time binding codes, and each person's scope (the classes they may act on)."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.texts import Catalogue, Phrase, Text
from storage import audit
from storage.db import Multi, Prepared
from storage.errors import (
    AccountBoundToOther,
    AlreadyBound,
    BadCode,
    CodeRequired,
    GroupNotBound,
    NotFound,
    NotOnRoster,
    OutOfScope,
    StaffBindsPrivately,
    TooManyCodes,
    WrongGroup,
)
from storage.models import (
    AuditEntry,
    BindCode,
    ChatAccount,
    College,
    GroupChat,
    Person,
    Role,
    SchoolClass,
    StaffAssignment,
)


class IdentityStorageTexts(Catalogue):
    this_class = Text("这个班级", "That class")
    person_number = Text("人员 {number}", "Person {number}")
    class_class_code = Text("班级 {class_code}", "Class {class_code}")
    this_group_s_current = Text("本群当前绑定的班级", "This group's current class")


CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LIFETIME = timedelta(hours=72)
# Wrong binding codes one chat account may send in a window before it is refused.
BAD_CODE_LIMIT = 5
BAD_CODE_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Actor:
    """A bound person as the router sees them: role and the classes in their scope."""

    person_id: int
    number: str
    name: str
    role: Role
    class_id: int | None
    college_id: int | None
    class_ids: frozenset[int]
    all_classes: bool = False
    consent_version: int | None = None
    # The college's name, for its own schedule times.
    college: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff

    def covers_class(self, class_id: int) -> bool:
        return self.all_classes or class_id in self.class_ids

    def require_class(
        self, class_id: int, what: str | Phrase | None = None, what_en: str | None = None
    ) -> None:
        """Refuse a class outside the actor's scope; `what` names it (a phrase, or the
        Chinese of a pair whose English is `what_en`)."""
        if not self.covers_class(class_id):
            if what is None:
                raise OutOfScope(what=IdentityStorageTexts.this_class.bind())
            if what_en is None:
                raise OutOfScope(what=what)
            raise OutOfScope(what=what, what_en=what_en)


def scope_of(session: Session, person: Person) -> tuple[frozenset[int], bool]:
    """The classes a person may act on, and whether that is every class."""
    return _scope(session, Role(person.role), person.id, person.class_id, person.college_id)


def _scope(
    session: Session, role: Role, person_id: int, class_id: int | None, college_id: int | None
) -> tuple[frozenset[int], bool]:
    if role is Role.SCHOOL_ADMIN:
        return frozenset(), True
    if role is Role.COLLEGE_ADMIN:
        ids = session.scalars(select(SchoolClass.id).where(SchoolClass.college_id == college_id))
        return frozenset(ids), False
    if role in (Role.COUNSELOR, Role.HEAD_TEACHER):
        ids = session.scalars(
            select(StaffAssignment.class_id).where(StaffAssignment.person_id == person_id)
        )
        return frozenset(ids), False
    if role is Role.MONITOR and class_id is not None:
        return frozenset({class_id}), False
    return frozenset(), False


def actor_from_person(session: Session, person: Person) -> Actor:
    class_ids, all_classes = scope_of(session, person)
    row = session.execute(
        select(College.id, College.name).where(
            College.id
            == (
                person.college_id
                if person.college_id is not None
                else select(SchoolClass.college_id)
                .where(SchoolClass.id == person.class_id)
                .scalar_subquery()
            )
        )
    ).first()
    return Actor(
        person_id=person.id,
        number=person.number,
        name=person.name,
        role=Role(person.role),
        class_id=person.class_id,
        college_id=row.id if row is not None else person.college_id,
        class_ids=class_ids,
        all_classes=all_classes,
        consent_version=person.consent_version,
        college=row.name if row is not None else None,
    )


@functools.cache
def _actor_statement() -> Any:
    """The asker of a message and their college, in one query: every message needs them.

    A Core statement built once: building a statement, and the ORM's bookkeeping for
    objects no one keeps, cost more than running the query on a warm SQLite. Nothing is
    cached across messages: another process sharing the database may rebind an account,
    record consent or import a roster at any moment, and one indexed query is cheap.
    """
    people = cast(Table, Person.__table__)
    classes = cast(Table, SchoolClass.__table__)
    colleges = cast(Table, College.__table__)
    accounts = cast(Table, ChatAccount.__table__)
    return (
        select(
            people.c.id,
            people.c.number,
            people.c.name,
            people.c.role,
            people.c.class_id,
            people.c.college_id,
            people.c.active,
            people.c.consent_version,
            colleges.c.id.label("college_row_id"),
            colleges.c.name.label("college_name"),
        )
        .select_from(accounts)
        .join(people, people.c.id == accounts.c.person_id)
        .outerjoin(classes, classes.c.id == people.c.class_id)
        .outerjoin(
            colleges,
            colleges.c.id == func.coalesce(people.c.college_id, classes.c.college_id),
        )
        .where(
            accounts.c.platform == bindparam("platform"),
            accounts.c.platform_user_id == bindparam("user_id"),
        )
    )


_ACTOR = Prepared(lambda dialect: _actor_statement())


def actor_for_account(session: Session, platform: str, user_id: str) -> Actor | None:
    rows = _ACTOR.rows(session, {"platform": platform, "user_id": user_id})
    return _actor_of_row(session, rows[0]) if rows else None


def _actor_of_row(session: Session, row: Sequence[Any]) -> Actor | None:
    """The actor of one row of the asker's query (None: no longer active)."""
    (
        person_id,
        number,
        name,
        role_name,
        class_id,
        college_id,
        active,
        consent_version,
        college_row_id,
        college_name,
    ) = row
    if not active:
        return None
    role = Role(role_name)
    class_ids, all_classes = _scope(session, role, person_id, class_id, college_id)
    return Actor(
        person_id=person_id,
        number=number,
        name=name,
        role=role,
        class_id=class_id,
        college_id=college_row_id if college_row_id is not None else college_id,
        class_ids=class_ids,
        all_classes=all_classes,
        consent_version=consent_version,
        college=college_name,
    )


@dataclass(frozen=True)
class Asker:
    """A chat account as a batch of messages reads it: its actor (None: unbound or no longer
    active) and whether it is marked unreachable and was nudged about it."""

    actor: Actor | None
    unreachable: bool = False
    nudged: bool = False


# The asker's query for many accounts at once. The same columns as `_actor_statement`, and
# the account's reachability, so a batch of messages needs no statement per message.
_ASKERS = Multi(
    lambda dialect: (
        "SELECT a.platform, a.platform_user_id, a.unreachable_at IS NOT NULL,"
        " a.nudged_at IS NOT NULL, p.id, p.number, p.name, p.role, p.class_id, p.college_id,"
        " p.active, p.consent_version, g.id, g.name"
        " FROM chat_accounts a JOIN people p ON p.id = a.person_id"
        " LEFT JOIN classes c ON c.id = p.class_id"
        " LEFT JOIN colleges g ON g.id = coalesce(p.college_id, c.college_id)"
        " WHERE (a.platform, a.platform_user_id) IN (VALUES {rows})",
        "(?, ?)",
    )
)


def askers_for_accounts(
    session: Session, accounts: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Asker]:
    """The `Asker` of each (platform, user id); an account not bound is left out."""
    wanted = list(dict.fromkeys(accounts))
    if not wanted:
        return {}
    return {
        (platform, user_id): Asker(_actor_of_row(session, row), bool(unreachable), bool(nudged))
        for platform, user_id, unreachable, nudged, *row in _ASKERS.rows(session, wanted)
    }


def actor_for_number(session: Session, number: str) -> Actor:
    person = session.scalar(select(Person).where(Person.number == number))
    if person is None:
        raise NotFound(what=IdentityStorageTexts.person_number.bind(number=number))
    return actor_from_person(session, person)


@functools.cache
def _group_statement() -> Any:
    return select(GroupChat).where(
        GroupChat.platform == bindparam("platform"), GroupChat.chat_id == bindparam("chat_id")
    )


def group_for_chat(session: Session, platform: str, chat_id: str) -> GroupChat | None:
    return session.scalar(_group_statement(), {"platform": platform, "chat_id": chat_id})


def find_person(session: Session, number: str) -> Person | None:
    return session.scalar(select(Person).where(Person.number == number))


def class_by_code(session: Session, code: str) -> SchoolClass | None:
    return session.scalar(select(SchoolClass).where(SchoolClass.code == code))


def staff_for_class(session: Session, class_id: int, roles: Iterable[Role]) -> list[Person]:
    """Counselors / head teachers assigned to a class."""
    return list(
        session.scalars(
            select(Person)
            .join(StaffAssignment, StaffAssignment.person_id == Person.id)
            .where(
                StaffAssignment.class_id == class_id,
                Person.role.in_([r.value for r in roles]),
                Person.active.is_(True),
            )
            .order_by(Person.number)
        )
    )


def college_admins(session: Session, college_id: int) -> list[Person]:
    return list(
        session.scalars(
            select(Person)
            .where(
                Person.role == Role.COLLEGE_ADMIN.value,
                Person.college_id == college_id,
                Person.active.is_(True),
            )
            .order_by(Person.number)
        )
    )


def _names_match(given: str, on_roster: str) -> bool:
    return "".join(given.split()) == "".join(on_roster.split())


def directory_matches(person: Person, job_number: str, mobile: str) -> bool:
    """Whether an org directory entry is this roster person: the same 学号/工号, or the same
    mobile when the roster has one."""
    if job_number and job_number.strip().upper() == person.number.upper():
        return True
    digits = "".join(c for c in mobile if c.isdigit())[-11:]
    phone = "".join(c for c in (person.phone or "") if c.isdigit())[-11:]
    return bool(digits) and len(digits) == 11 and digits == phone


def bind_account(
    session: Session,
    *,
    platform: str,
    user_id: str,
    display_name: str,
    number: str,
    name: str,
    group: GroupChat | None,
    code: str | None,
    now: datetime,
    directory: tuple[str, str] | None = None,
) -> Person:
    """Bind a chat account to a roster person (SPEC §3).

    A student may bind inside a group bound to their own class; staff, and anyone in
    private chat, only with a one-time code issued for that person, or in private chat when
    the platform's org directory (`directory`: job number, mobile) names the same person. A
    person bound to another account on this platform cannot be taken over, nor an account
    rebound.
    """
    current = session.scalar(
        select(ChatAccount).where(
            ChatAccount.platform == platform, ChatAccount.platform_user_id == user_id
        )
    )
    person = find_person(session, number)
    if person is None or not _names_match(name, person.name) or not person.active:
        raise NotOnRoster(number=number, name=name)
    if current is not None:
        if current.person_id == person.id:
            return person
        owner = session.get(Person, current.person_id)
        raise AccountBoundToOther(number=owner.number if owner else "?")

    via = "group" if group is not None else "code"
    if group is not None:
        if not Role(person.role).is_student:
            raise StaffBindsPrivately(number=number)
        if person.class_id != group.class_id:
            cls = session.get(SchoolClass, group.class_id)
            raise WrongGroup(number=number, class_code=cls.code if cls else "?")
    elif code is None and directory is not None and directory_matches(person, *directory):
        via = "directory"
    else:
        if code is None:
            raise CodeRequired()
        if bad_codes(session, platform, user_id, now) >= BAD_CODE_LIMIT:
            raise TooManyCodes(minutes=int(BAD_CODE_WINDOW.total_seconds() // 60))
        used = session.execute(
            update(BindCode)
            .where(
                BindCode.code == code.upper(),
                BindCode.person_id == person.id,
                BindCode.used_at.is_(None),
                BindCode.expires_at > now,
            )
            .values(used_at=now)
        )
        if not used.rowcount:  # type: ignore[attr-defined]
            raise BadCode()

    taken = session.scalar(
        select(ChatAccount.id).where(
            ChatAccount.person_id == person.id, ChatAccount.platform == platform
        )
    )
    if taken is not None:
        raise AlreadyBound(number=number)
    try:
        with session.begin_nested():
            session.add(
                ChatAccount(
                    platform=platform,
                    platform_user_id=user_id,
                    person_id=person.id,
                    display_name=display_name[:200] or None,
                    bound_at=now,
                )
            )
    except IntegrityError:
        # Another account won a race for the same person.
        raise AlreadyBound(number=number) from None
    audit.record(
        session,
        at=now,
        actor=None,
        actor_label=f"{person.number} {person.name}",
        action="bind",
        target=f"person:{person.number}",
        detail={"platform": platform, "via": via},
    )
    return person


def _account_target(platform: str, user_id: str) -> str:
    return f"account:{platform}:{user_id}"[:100]


def bad_codes(session: Session, platform: str, user_id: str, now: datetime) -> int:
    """Wrong binding codes this chat account sent within the window."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == "bad_code",
                AuditEntry.target == _account_target(platform, user_id),
                AuditEntry.at > now - BAD_CODE_WINDOW,
            )
        )
        or 0
    )


def record_bad_code(
    session: Session, *, platform: str, user_id: str, number: str, now: datetime
) -> None:
    """Audit a wrong binding code: the log is also what the per-account limit counts."""
    audit.record(
        session,
        at=now,
        actor=None,
        actor_label=f"{platform}:{user_id}",
        action="bad_code",
        target=_account_target(platform, user_id),
        detail={"number": number},
    )


def may_issue_code(session: Session, issuer: Actor | None, person: Person) -> bool:
    """Who may issue a binding code for whom (SPEC §3, §9 "Binding codes").

    `issuer` None is the command line. A school admin issues for anyone; codes for college
    and school admins come only from a school admin or the command line. A college admin
    issues for the students and staff of their college, a counselor for the students and
    head teachers of their classes.
    """
    if issuer is None or issuer.role is Role.SCHOOL_ADMIN:
        return True
    role = Role(person.role)
    if role in (Role.COLLEGE_ADMIN, Role.SCHOOL_ADMIN):
        return False
    if role.is_student:
        return person.class_id is not None and issuer.covers_class(person.class_id)
    if issuer.role is Role.COLLEGE_ADMIN or (
        issuer.role is Role.COUNSELOR and role is Role.HEAD_TEACHER
    ):
        classes, _ = scope_of(session, person)
        return bool(classes) and classes <= issuer.class_ids
    return False


def new_student_bindings(
    session: Session, class_ids: Iterable[int], since: datetime, until: datetime
) -> list[tuple[str, str, str]]:
    """(class code, 学号, 姓名) of students in these classes who bound an account in the window."""
    return [
        (code, number, name)
        for code, number, name in session.execute(
            select(SchoolClass.code, Person.number, Person.name)
            .select_from(ChatAccount)
            .join(Person, Person.id == ChatAccount.person_id)
            .join(SchoolClass, SchoolClass.id == Person.class_id)
            .where(
                Person.class_id.in_(list(class_ids)),
                Person.role.in_([Role.STUDENT.value, Role.MONITOR.value]),
                ChatAccount.bound_at >= since,
                ChatAccount.bound_at < until,
            )
            .order_by(SchoolClass.code, Person.number)
            .distinct()
        )
    ]


def bind_group(
    session: Session,
    *,
    platform: str,
    chat_id: str,
    title: str,
    class_code: str,
    actor_id: int,
    class_ids: frozenset[int],
    all_classes: bool,
    now: datetime,
) -> tuple[SchoolClass, bool]:
    """Bind a group chat to a class; returns (class, whether it was newly bound)."""
    cls = class_by_code(session, class_code)
    if cls is None:
        raise NotFound(what=IdentityStorageTexts.class_class_code.bind(class_code=class_code))
    if not all_classes and cls.id not in class_ids:
        raise OutOfScope(what=IdentityStorageTexts.class_class_code.bind(class_code=class_code))
    existing = group_for_chat(session, platform, chat_id)
    if existing is not None:
        if existing.class_id == cls.id:
            return cls, False
        if not all_classes and existing.class_id not in class_ids:
            raise OutOfScope(what=IdentityStorageTexts.this_group_s_current.bind())
        existing.class_id = cls.id
        existing.bound_by = actor_id
        existing.bound_at = now
    else:
        session.add(
            GroupChat(
                platform=platform,
                chat_id=chat_id,
                class_id=cls.id,
                title=title[:200] or None,
                bound_by=actor_id,
                bound_at=now,
            )
        )
    return cls, True


def require_group(group: GroupChat | None) -> GroupChat:
    if group is None:
        raise GroupNotBound()
    return group


def move_group_chat(session: Session, platform: str, old_chat_id: str, new_chat_id: str) -> bool:
    """A group chat changed its id (a Telegram group became a supergroup): keep its binding."""
    result = session.execute(
        update(GroupChat)
        .where(GroupChat.platform == platform, GroupChat.chat_id == old_chat_id)
        .values(chat_id=new_chat_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def unbind_person(session: Session, person_id: int) -> int:
    """Remove every chat account of a person (a counselor's reset); returns how many."""
    result = session.execute(delete(ChatAccount).where(ChatAccount.person_id == person_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


def issue_code(session: Session, person_id: int, created_by: int | None, now: datetime) -> str:
    """A one-time binding code for private chat, for one person, valid for 72 hours."""
    for _ in range(10):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        if session.scalar(select(func.count()).where(BindCode.code == code)) == 0:
            session.add(
                BindCode(
                    code=code,
                    person_id=person_id,
                    created_by=created_by,
                    created_at=now,
                    expires_at=now + CODE_LIFETIME,
                )
            )
            return code
    raise RuntimeError("could not find a free binding code")


def mark_unreachable(
    session: Session | Connection, platform: str, user_id: str, reason: str, now: datetime
) -> None:
    session.execute(
        update(ChatAccount)
        .where(ChatAccount.platform == platform, ChatAccount.platform_user_id == user_id)
        .values(unreachable_at=now, unreachable_reason=reason[:200])
    )


def mark_reachable(session: Session, platform: str, user_id: str) -> None:
    session.execute(
        update(ChatAccount)
        .where(
            ChatAccount.platform == platform,
            ChatAccount.platform_user_id == user_id,
            ChatAccount.unreachable_at.is_not(None),
        )
        .values(unreachable_at=None, unreachable_reason=None)
    )


def accounts_for(
    session: Session, person_ids: Iterable[int], platforms: Iterable[str]
) -> dict[int, list[ChatAccount]]:
    """Each person's chat accounts on the given platforms."""
    ids = list(set(person_ids))
    out: dict[int, list[ChatAccount]] = {pid: [] for pid in ids}
    if not ids:
        return out
    rows = session.scalars(
        select(ChatAccount).where(
            ChatAccount.person_id.in_(ids), ChatAccount.platform.in_(list(platforms))
        )
    )
    for acc in rows:
        out[acc.person_id].append(acc)
    return out


def platforms_in_use(session: Session) -> list[str]:
    """The platforms that have a bound group or account (where a one-off command's messages
    can go when no adapter runs in its process)."""
    groups = session.scalars(select(GroupChat.platform).distinct())
    accounts = session.scalars(select(ChatAccount.platform).distinct())
    return sorted({*groups, *accounts})
