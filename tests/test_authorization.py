"""The authorization matrix: every command, as every role, in scope, out of scope and unbound.

The expected outcome lives here, not in the command declarations, so a declaration that
drifts from it fails; a command missing from the table fails too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select, update

from bot.adapters.testing import Sent, TestAdapter
from bot.app import App
from bot.router import Where
from storage import identity
from storage.errors import CodeRequired, NotBound, PrivateOnly, StaffBindsPrivately
from storage.models import AuditEntry, ChatAccount, Person, Role
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
    # `{own}` in the text: each sender's own request (others get L1, someone else's).
    own: tuple[tuple[str, str], ...] = ()
    # What an allowed in-scope reply says when the command succeeds.
    succeeds: str = ""

    def text_for(self, sender: str) -> str:
        return self.text.format(own=dict(self.own).get(sender, "L1"))


# A sick-leave request L1 of 2020010 (护理172), pending.
PENDING_LEAVE = (("2020010", "请假 明天 病假 发烧就医"),)
# The in-scope student's and monitor's own requests, L1 and L2.
OWN_LEAVE = (("2020001", "请假 明天 事假 回家"), ("2020002", "请假 明天 事假 回家"))
OWN = (("2020001", "L1"), ("2020002", "L2"))
# Each staff member's own student to act on, so two allowed roles do not meet the same one.
OWN_STUDENT = (("T001", "2020010"), ("T003", "2020011"), ("T101", "2020010"), ("T103", "2020010"))


# A collection C1 for 护理172, started by its counselor.
COLLECTION = (("T001", "收集 寒假离校返乡登记 护理172"),)
# A matter Q1 of 2020010 (护理172), open.
RAISED = (("2020010", "反映 宿舍热水器坏了"),)
# The in-scope student's and monitor's own matters, Q1 and Q2, closed.
OWN_CLOSED = (
    ("2020001", "反映 宿舍热水器坏了"),
    ("2020002", "反映 教室投影坏了"),
    ("T001", "办结 Q1 已报修"),
    ("T001", "办结 Q2 已报修"),
)
OWN_MATTERS = (("2020001", "Q1"), ("2020002", "Q2"))


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
    # A student's own requests: another student's is simply not found for them.
    "cancel": (
        frozenset({S, M}),
        Probe("撤销 {own}", setup=OWN_LEAVE, own=OWN, succeeds="✓ 已撤销请假"),
    ),
    "back": (
        frozenset({S, M}),
        Probe(
            "销假 {own}",
            setup=(*OWN_LEAVE, ("T001", "批准 L1"), ("T001", "批准 L2")),
            own=OWN,
            succeeds="还没开始，已撤销",
        ),
    ),
    "subsidy": (frozenset({S, M}), Probe("补助 500 家庭困难")),
    "approve": (frozenset({C, CA}), Probe("批准 L1", scoped=True, setup=PENDING_LEAVE)),
    "reject": (frozenset({C, CA}), Probe("驳回 L1 请补充证明", scoped=True, setup=PENDING_LEAVE)),
    "followup": (frozenset({C, CA}), Probe("跟进 L1 已就医", scoped=True, setup=PENDING_LEAVE)),
    "attendance": (
        frozenset({M, C, H, CA, SA}),
        Probe("考勤 高等数学 全勤", chat="group", scoped=True),
    ),
    # 诉求: 反映 in a group is a command only alone (or before an id), so the probe is alone.
    "ask": (frozenset({S, M}), Probe("反映")),
    "matters": (frozenset({C, H, CA, SA}), Probe("诉求")),
    # Acting on a matter: the class's counselors and the college office (or the assignee).
    "take": (frozenset({C, CA}), Probe("受理 Q1", scoped=True, setup=RAISED)),
    "assign": (frozenset({C, CA}), Probe("指派 Q1 T002", scoped=True, setup=RAISED)),
    "close": (frozenset({C, CA}), Probe("办结 Q1 已处理", scoped=True, setup=RAISED)),
    "reopen": (
        frozenset({S, M}),
        Probe("重开 {own}", setup=OWN_CLOSED, own=OWN_MATTERS, succeeds="✓ 已重开"),
    ),
    # 心理预警: anyone bound, about any student of the school, in private chat.
    "alert": (EVERYONE, Probe("心理预警 2020010 情绪低落", succeeds="✓ 已收到")),
    # Reading them: staff, each seeing only what they are a designated reader of.
    "alerts": (frozenset({C, H, CA, SA}), Probe("预警记录")),
    # Referring an alert: only its readers find it (here the counselor of 护理172).
    "refer": (
        frozenset({C, H, CA, SA}),
        Probe("转介 #1 T002", setup=(("2020002", "心理预警 2020010 情绪低落"),)),
    ),
    # A student who is not the class's 心理委员 is told only 心理委员 report.
    "psych": (frozenset({S, M}), Probe("心理周报 无异常")),
    # A head teacher keeps read-only access: no notices.
    "notice": (
        frozenset({C, CA, SA}),
        Probe("通知 护理172 请按时返校", scoped=True, succeeds="✓ 已发出通知"),
    ),
    # Everyone may say 收到; a student with nothing open is told so, staff what it is for.
    "ack": (EVERYONE, Probe("收到")),
    # A head teacher keeps read-only access: no collections either.
    "collect": (
        frozenset({C, CA, SA}),
        Probe("收集 寒假离校返乡登记 护理172", scoped=True, succeeds="✓ 已发起信息收集 C"),
    ),
    # A student outside the collection's audience finds no such collection for them.
    "fill": (
        frozenset({S, M}),
        Probe(
            "填 C1 2027-01-15 湖北恩施 火车 2027-02-20",
            setup=COLLECTION,
            succeeds="✓ 已提交 C1",
        ),
    ),
    "progress": (
        frozenset({C, H, CA, SA}),
        Probe("进度 C1", setup=COLLECTION, scoped=True, succeeds="📊 寒假离校返乡登记（C1）进度"),
    ),
    "tag": (
        frozenset({C, CA}),
        Probe("标记 {own} 心理关注", scoped=True, own=OWN_STUDENT, succeeds="✓ 已将"),
    ),
    "untag": (
        frozenset({C, CA}),
        Probe(
            "取消标记 {own} 心理关注",
            scoped=True,
            setup=(("T001", "标记 2020010 心理关注"), ("T001", "标记 2020011 心理关注")),
            own=OWN_STUDENT,
            succeeds="✓ 已取消",
        ),
    ),
    "visit": (
        frozenset({C, CA}),
        Probe("家访 2020010 电话 情况:一切正常", scoped=True, succeeds="✓ 已记录"),
    ),
    "talk": (
        frozenset({C, CA}),
        Probe("谈话 2020010 面谈 情况:情绪平稳", scoped=True, succeeds="✓ 已记录"),
    ),
    "done": (
        frozenset({C, CA}),
        Probe(
            "完成 {own}",
            scoped=True,
            setup=(
                ("T001", "家访 2020010 电话 情况:好 跟进:明天 寄口罩"),
                ("T001", "家访 2020011 电话 情况:好 跟进:明天 寄书"),
            ),
            own=(("T001", "1"), ("T003", "2"), ("T101", "1"), ("T103", "2")),
            succeeds="✓ 跟进事项",
        ),
    ),
    "track": (
        frozenset({C, CA}),
        Probe("跟踪 {own}", scoped=True, own=OWN_STUDENT, succeeds="✓ 已开始"),
    ),
    "recovered": (
        frozenset({C, CA}),
        Probe(
            "康复 {own}",
            scoped=True,
            setup=(("T001", "跟踪 2020010"), ("T001", "跟踪 2020011")),
            own=OWN_STUDENT,
            succeeds="已标记康复",
        ),
    ),
    "feel": (
        frozenset({S, M}),
        Probe(
            "身体 36.6",
            setup=(("T001", "跟踪 2020001"), ("T001", "跟踪 2020002")),
            succeeds="✓ 已记录今天的身体情况",
        ),
    ),
    # Care records: only the student's counselor (and configured mental-health contacts).
    "file": (
        frozenset({C}),
        Probe(
            "档案 2020010", scoped=True, setup=(("T001", "标记 2020010 心理关注"),), succeeds="📁"
        ),
    ),
    "careledger": (
        frozenset({C}),
        Probe(
            "帮扶台账 护理172",
            scoped=True,
            setup=(("T001", "标记 2020010 心理关注"),),
            succeeds="📎 帮扶台账",
        ),
    ),
}

# 导出 C1: the export command on a collection, the same roles as the day's ledger.
EXPORT_COLLECTION = Probe(
    "导出 C1", setup=COLLECTION, scoped=True, succeeds="📎 寒假离校返乡登记（C1）"
)

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
        for s in await bot.say(sender, probe.text_for(sender), group=group)
        if s.to.chat_id in (group or sender,)
    ]
    assert replies, f"no reply to {probe.text!r} from {sender}"
    return replies[0].text


@pytest.mark.parametrize("name", [*sorted(TABLE), "export C1"])
async def test_authorization_matrix(app: App, bot: TestAdapter, name: str) -> None:
    seed_other_college(app)
    allowed, probe = (TABLE["export"][0], EXPORT_COLLECTION) if name == "export C1" else TABLE[name]
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
            if probe.succeeds and "in scope" in label:
                assert probe.succeeds in text, f"{name} as {label} did not succeed: {text!r}"
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
    [reply] = await bot.say(sender, probe.text_for(sender), group="护理172")
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


# -- binding: every role × group or private × with or without a code × own or other class --

BIND_ROLES = sorted(Role, key=list(Role).index)
GROUPS = {"own": "护理172", "other": "药学181"}


def _bind_expectation(role: Role, where: str, code: bool, cls: str) -> str | None:
    """None when the binding succeeds, else the refusal it gets."""
    if where == "private":
        return None if code else CodeRequired().render("zh")
    if not role.is_student:
        return StaffBindsPrivately(number=IN_SCOPE[role]).render("zh")
    # A code changes nothing in a group: a student binds in their own class group only.
    return None if cls == "own" else "不在本群绑定的班级"


def _reset(app: App, number: str) -> tuple[int, str]:
    with app.uow() as s:
        person = s.scalars(select(Person).where(Person.number == number)).one()
        identity.unbind_person(s, person.id)
        return person.id, person.name


def _bound_accounts(app: App, person_id: int) -> list[str]:
    with app.uow(readonly=True) as s:
        return list(
            s.scalars(
                select(ChatAccount.platform_user_id).where(ChatAccount.person_id == person_id)
            )
        )


@pytest.mark.parametrize("role", BIND_ROLES, ids=str)
async def test_binding_matrix(app: App, bot: TestAdapter, role: Role) -> None:
    seed_other_college(app)
    number = IN_SCOPE[role]
    for where in ("group", "private"):
        for with_code in (False, True):
            for cls in ("own", "other"):
                label = f"{role} {where} {'with' if with_code else 'without'} code {cls} class"
                person_id, name = _reset(app, number)
                code = ""
                if with_code:
                    with app.uow() as s:
                        code = identity.issue_code(s, person_id, None, app.clock.now())
                account = f"new-{role}-{where}-{with_code}-{cls}"
                text = f"绑定 {number} {name} {code}".strip()
                group = GROUPS[cls] if where == "group" else None
                replies = [
                    r
                    for r in await bot.say(account, text, group=group)
                    if r.to.chat_id in (group or account,)
                ]
                assert replies, f"no reply for {label}"
                expected = _bind_expectation(role, where, with_code, cls)
                if expected is None:
                    assert "绑定成功" in replies[0].text, f"{label}: {replies[0].text!r}"
                    assert _bound_accounts(app, person_id) == [account], label
                else:
                    assert expected in replies[0].text, f"{label}: {replies[0].text!r}"
                    assert _bound_accounts(app, person_id) == [], label


# -- consent forms: only the whole message (or with the version / the confirmation) --

CONSENT_FORMS = [
    # (text, in a group, consent afterwards, answered)
    ("同意", True, 1, True),
    ("同意", False, 1, True),
    ("同意 1", True, 1, True),
    ("同意1", False, 1, True),
    ("同意 楼上", True, None, False),
    ("同意 明天再说", True, None, False),
    ("同意 楼上", False, None, True),
    ("同意 2", False, None, True),
]
WITHDRAW_FORMS = [
    ("撤回同意", True, 1, True),
    ("撤回同意", False, 1, True),
    ("撤回同意 确认", True, None, True),
    ("撤回同意 确认", False, None, True),
    ("撤回同意 是啥", True, 1, False),
    ("撤回同意 是啥", False, 1, True),
]


@pytest.mark.parametrize(("text", "in_group", "after", "answered"), CONSENT_FORMS)
async def test_consent_forms(
    app: App, bot: TestAdapter, text: str, in_group: bool, after: int | None, answered: bool
) -> None:
    with app.uow() as s:
        s.execute(update(Person).where(Person.number == "2020001").values(consent_version=None))
    sent = await bot.say("2020001", text, group="护理172" if in_group else None)
    assert bool(sent) is answered
    with app.uow(readonly=True) as s:
        version = s.scalar(select(Person.consent_version).where(Person.number == "2020001"))
    assert version == after
    if after is not None:
        assert sent[0].text.startswith("✓ 已记录")


@pytest.mark.parametrize(("text", "in_group", "after", "answered"), WITHDRAW_FORMS)
async def test_withdrawal_forms(
    app: App, bot: TestAdapter, text: str, in_group: bool, after: int | None, answered: bool
) -> None:
    sent = await bot.say("2020001", text, group="护理172" if in_group else None)
    assert bool(sent) is answered
    with app.uow(readonly=True) as s:
        version = s.scalar(select(Person.consent_version).where(Person.number == "2020001"))
    assert version == after
    private = [s.text for s in sent if not s.to.is_group and s.to.chat_id == "2020001"]
    if after is None:
        assert any("✓ 已撤回同意" in t for t in private)
    elif answered:
        assert any(("撤回同意 确认" in t) for t in private)


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
