"""The authorization matrix: every command, as every role, in scope, out of scope and unbound.

The expected outcome lives here, not in the command declarations, so a declaration that
drifts from it fails; a command missing from the table fails too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from bot.adapters.testing import Sent, TestAdapter
from bot.app import App
from bot.router import Where
from storage.errors import NotBound, PrivateOnly
from storage.models import AuditEntry, Role
from tests.conftest import (
    OTHER_CLASS,
    OTHER_PEOPLE,
    declared_commands,
    row_counts,
    seed_other_college,
)

S, M, C, H, CA, SA = (
    Role.STUDENT,
    Role.MONITOR,
    Role.COUNSELOR,
    Role.HEAD_TEACHER,
    Role.COLLEGE_ADMIN,
    Role.SCHOOL_ADMIN,
)
EVERYONE = frozenset(Role)
UNBOUND = "unbound"


@dataclass(frozen=True)
class Probe:
    """How to try a command: its text, where to send it, and whether it acts on a class."""

    text: str
    # "group": the demo class group 护理172; "private"; or a group chat not bound yet.
    chat: str = "private"
    # Acts on a class or a student: staff of another college are refused (OutOfScope).
    scoped: bool = False
    # Messages (sender, text) sent first, so the probe has something to act on.
    setup: tuple[tuple[str, str], ...] = ()


# A sick-leave request L1 of 2020010 (护理172), pending.
PENDING_LEAVE = (("2020010", "请假 明天 病假 发烧就医"),)


# command name → (who may use it, how to try it). Unbound accounts may only use what
# lists UNBOUND.
TABLE: dict[str, tuple[frozenset[Role | str], Probe]] = {
    "help": (EVERYONE | {UNBOUND}, Probe("帮助")),
    "bind": (EVERYONE | {UNBOUND}, Probe("绑定 2020010 吴宇航", chat="group")),
    "privacy": (EVERYONE | {UNBOUND}, Probe("隐私")),
    "agree": (EVERYONE, Probe("同意")),
    "withdraw": (EVERYONE, Probe("撤回同意")),
    "mine": (EVERYONE, Probe("我的")),
    "checkin": (frozenset({S, M}), Probe("打卡 36.5")),
    "bindgroup": (frozenset({C, CA, SA}), Probe("绑定班级 护理172", chat="new", scoped=True)),
    "unbind": (frozenset({C, CA, SA}), Probe("解绑 2020010", scoped=True)),
    "invite": (frozenset({C, CA, SA}), Probe("绑定码 2020010", scoped=True)),
    # Reports cover the asker's own classes: there is no one else's class to name.
    "report": (frozenset({C, H, CA, SA}), Probe("汇总")),
    "missing": (frozenset({M, C, H, CA, SA}), Probe("未打卡")),
    "export": (frozenset({C, H, CA, SA}), Probe("导出")),
    "leave": (frozenset({S, M}), Probe("请假 明天 事假 回家")),
    # A student's own requests: another student's id is simply not found for them.
    "cancel": (frozenset({S, M}), Probe("撤销 L99")),
    "back": (frozenset({S, M}), Probe("销假 L99")),
    "subsidy": (frozenset({S, M}), Probe("补助 500 家庭困难")),
    "approve": (frozenset({C, CA}), Probe("批准 L1", scoped=True, setup=PENDING_LEAVE)),
    "reject": (frozenset({C, CA}), Probe("驳回 L1 请补充证明", scoped=True, setup=PENDING_LEAVE)),
    "followup": (frozenset({C, CA}), Probe("跟进 L1 已就医", scoped=True, setup=PENDING_LEAVE)),
    "attendance": (
        frozenset({M, C, H, CA, SA}),
        Probe("考勤 高等数学 全勤", chat="group", scoped=True),
    ),
}

# Each role in the demo school (in scope of 护理172) and in the second college (out of it).
IN_SCOPE = {
    S: "2020001",
    M: "2020002",
    C: "T001",
    H: "T002",
    CA: "T003",
    SA: "T009",
}
OUT_OF_SCOPE = {Role(k): v for k, v in OTHER_PEOPLE.items()}

REFUSALS = (
    NotBound().render("zh"),
    PrivateOnly().render("zh"),
    "你没有权限使用",
    "你无权处理",
)


def is_refusal(text: str) -> bool:
    return text.startswith(REFUSALS)


def test_the_table_lists_every_command() -> None:
    declared = {c.name for c in declared_commands()}
    assert declared - set(TABLE) == set(), "add these commands to the authorization table"
    assert set(TABLE) - declared == set(), "the table lists commands that do not exist"


async def try_as(bot: TestAdapter, sender: str, probe: Probe) -> str:
    group = {"group": "护理172", "new": f"new-group-{sender}", "private": None}[probe.chat]
    replies = [
        s
        for s in await bot.say(sender, probe.text, group=group)
        if s.to.chat_id in (group or sender,)
    ]
    assert replies, f"no reply to {probe.text!r} from {sender}"
    return replies[0].text


@pytest.mark.parametrize("name", sorted(TABLE))
async def test_authorization_matrix(app: App, bot: TestAdapter, name: str) -> None:
    seed_other_college(app)
    allowed, probe = TABLE[name]
    for sender, text in probe.setup:
        await bot.say(sender, text)
    # Refusals first: an allowed in-scope run may change what a later one finds.
    cases: list[tuple[str, str, bool]] = [
        (out, f"{role} out of scope", role in allowed and not probe.scoped)
        for role, out in OUT_OF_SCOPE.items()
    ]
    cases.append(("nobody", "unbound", UNBOUND in allowed))
    cases += [(IN_SCOPE[role], f"{role} in scope", role in allowed) for role in Role]

    for sender, label, expect_allowed in cases:
        before = row_counts(app)
        text = await try_as(bot, sender, probe)
        if expect_allowed:
            assert not is_refusal(text), f"{name} as {label} was refused: {text!r}"
        else:
            assert is_refusal(text), f"{name} as {label} was not refused: {text!r}"
            assert row_counts(app) == before, f"{name} as {label} stored something"


@pytest.mark.parametrize(
    "name", sorted(c.name for c in declared_commands() if c.where is Where.PRIVATE)
)
async def test_private_only_commands_are_refused_in_a_group(
    app: App, bot: TestAdapter, name: str
) -> None:
    allowed, probe = TABLE[name]
    sender = next(n for r, n in IN_SCOPE.items() if r in allowed)
    before = row_counts(app)
    [reply] = await bot.say(sender, probe.text, group="护理172")
    assert reply.text == PrivateOnly().render("zh")
    assert row_counts(app) == before


async def test_refused_attempts_are_audited(app: App, bot: TestAdapter) -> None:
    seed_other_college(app)
    await bot.say("2020001", "解绑 2020003")
    await bot.say("T101", "解绑 2020003")
    with app.uow(readonly=True) as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "refused")))
    assert [(e.actor, e.target, (e.detail or {})["reason"]) for e in entries] == [
        ("2020001 张晓明", "unbind", "NotAllowed"),
        ("T101 吴辅导", "unbind", "OutOfScope"),
    ]


# -- class filters and commands about one class in another class's group ---------------------

FILTERED = {"汇总": frozenset({C, H, CA, SA}), "未打卡": frozenset({M, C, H, CA, SA})}
FILTERED["导出"] = FILTERED["汇总"]


def private_answer(sent: list[Sent], sender: str) -> Sent:
    [answer] = [s for s in sent if s.to.chat_id == sender and not s.to.is_group]
    return answer


@pytest.mark.parametrize("word", sorted(FILTERED))
async def test_class_filter_matrix(app: App, bot: TestAdapter, word: str) -> None:
    """Every role, in and out of scope, asking about 护理172 privately."""
    seed_other_college(app)
    cases = [(IN_SCOPE[r], f"{r} in scope", r) for r in Role] + [
        (n, f"{r} out of scope", r) for r, n in OUT_OF_SCOPE.items()
    ]
    for sender, label, role in cases:
        before = row_counts(app)
        answer = private_answer(await bot.say(sender, f"{word} 护理172"), sender)
        in_scope = sender in IN_SCOPE.values()
        if role in FILTERED[word] and in_scope:
            assert not is_refusal(answer.text), f"{word} as {label}: {answer.text!r}"
            if word == "导出":
                assert answer.message.attachment is not None
                assert answer.message.attachment.filename.startswith("台账-护理172-")
            else:
                assert "护理172" in answer.text and "检验172" not in answer.text, label
        elif role in FILTERED[word]:
            assert answer.text == "你无权处理班级 护理172。", f"{word} as {label}"
            assert row_counts(app) == before
        else:
            assert answer.text.startswith("你没有权限使用"), f"{word} as {label}"
            assert row_counts(app) == before


@pytest.mark.parametrize("word", sorted(FILTERED))
async def test_commands_about_a_class_in_another_class_group(
    app: App, bot: TestAdapter, word: str
) -> None:
    """The school admin may speak of any class, but not of 护理172 in 药学181's group; in
    护理172's own group the answer goes privately."""
    seed_other_college(app)
    sent = await bot.say("T009", f"{word} 护理172", group=OTHER_CLASS)
    [refusal] = sent
    assert refusal.to.chat_id == OTHER_CLASS
    assert refusal.text == (
        f"本群是 {OTHER_CLASS} 的班级群，不在这里谈护理172。请私聊我发送：{word} 护理172"
    )
    sent = await bot.say("T009", f"{word} 护理172", group="护理172")
    assert [s.text for s in sent if s.to.is_group] == ["已私信发给你。"]
    assert not is_refusal(private_answer(sent, "T009").text)


@pytest.mark.parametrize(
    ("sender", "group", "allowed"),
    [
        ("2020002", "护理172", True),  # the monitor, in their own class group
        ("2021002", "护理172", False),  # another class's monitor, in a foreign group
        ("2020002", OTHER_CLASS, False),
        ("2020002", "new-group", False),  # a group bound to no class
    ],
)
async def test_monitor_missing_by_group(
    app: App, bot: TestAdapter, sender: str, group: str, allowed: bool
) -> None:
    seed_other_college(app)
    sent = await bot.say(sender, "未打卡", group=group)
    in_group = [s for s in sent if s.to.is_group]
    [posted] = in_group
    if allowed:
        assert posted.text.startswith("⏰") and "位同学未打卡" in posted.text
        assert len(posted.message.mentions) == 30
        assert "未打卡 30 人" in private_answer(sent, sender).text
    else:
        assert "不在这里谈你的班级" in posted.text and posted.message.mentions == ()
        assert [s for s in sent if not s.to.is_group] == []
