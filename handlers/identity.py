"""绑定: binding chat accounts to roster people and group chats to classes."""

from __future__ import annotations

from bot.router import ALL_ROLES, Args, CommandRouter, Context, Where, normalize
from bot.texts import Catalogue, Text
from handlers.privacy import notice
from storage import audit, consent, identity
from storage.errors import AlreadyBound, BadArguments, BadCode, NotFound, OutOfScope
from storage.models import Role

router = CommandRouter("identity")


class IdentityTexts(Catalogue):
    code_for = Text(" {number} 生成绑定码（{issuers}）", "A code for {number} ({issuers})")
    issued_for_students = Text(
        "由本班辅导员或学院学工办生成", "their counselor or college office issues it"
    )
    issued_for_head_teachers = Text(
        "由所带班级的辅导员或学院学工办生成",
        "the counselor of their classes or the college office issues it",
    )
    issued_for_counselors = Text(
        "由学院学工办或学工部生成", "the college or school office issues it"
    )
    issued_for_admins = Text(
        "只能由学工部或命令行 classbot invite 生成",
        "only the school office or `classbot invite` issues it",
    )
    bind_usage = Text(
        "绑定 <学号|工号> <姓名>（在班级群里）；私聊：绑定 <学号> <姓名> <绑定码>",
        "/bind <id> <name> (in your class group); in private chat: /bind <id> <name> <code>",
    )
    bind_help = Text("把你的聊天账号绑定到花名册", "bind your chat account to the roster")
    bindgroup_usage = Text(
        "绑定班级 <班级>，例：绑定班级 {class_code}",
        "/bindgroup <class code>, e.g. /bindgroup {class_code}",
    )
    bindgroup_help = Text("把本群绑定到你负责的班级", "bind this group chat to one of your classes")
    unbind_usage = Text("解绑 <学号>", "/unbind <student id>")
    unbind_help = Text("重置学生的聊天账号绑定", "reset a student's chat binding")
    invite_usage = Text("绑定码 <学号|工号>", "/invite <id>")
    invite_help = Text(
        "生成私聊绑定用的一次性绑定码", "make a one-time code for binding in private chat"
    )
    bound_to_name_number = Text(
        "✓ 绑定成功：{name}（{number}）。发送「帮助」查看可用的命令。",
        "✓ Bound to {name} ({number}). Send /help to see what you can do.",
    )
    another_account_tried_to = Text(
        "⚠️ 有另一个账号想绑定 {name}（{number}），但这个学号已经绑定了账号。如果是本人换了手机或账号，请发送：解绑 {number}，让对方重新绑定；如果不是本人，可能有人冒用，请核实。",
        "⚠️ Another account tried to bind {name} ({number}), who is already bound. If they changed phone or account, send /unbind {number} so they can bind again; if not, someone may be impersonating them.",
    )
    this_group_is_now = Text(
        "✓ 本群已绑定班级 {cls}。同学们请发送：绑定 <学号> <姓名>",
        "✓ This group is now class {cls}. Students: send /bind <id> <name>",
    )
    reset_binding_of_name = Text(
        "✓ 已重置 {name}（{number}）的绑定（{n} 个账号），对方可以重新绑定了。",
        "✓ Reset the binding of {name} ({number}) ({n} accounts); they can bind again.",
    )
    code_for_name_number = Text(
        "{name}（{number}）的绑定码：{code}（72 小时内有效，只能用一次，只能绑定这个人）。请对方私聊我发送：绑定 {number} {name} {code}",
        "Code for {name} ({number}): {code} (valid 72 hours, once, for this person only). They send me privately: /bind {number} {name} {code}",
    )
    give_your_id_and = Text("请写上学号（或工号）和姓名。", "Give your id and your name.")
    too_many_arguments = Text("参数太多了。", "Too many arguments.")
    give_one_class_code = Text("请写上一个班级名。", "Give one class code.")
    give_one_student_id = Text("请写上一个学号。", "Give one student id.")
    person_number = Text("人员 {number}", "Person {number}")
    binding_of_number = Text("{number} 的绑定", "The binding of {number}")
    give_one_id = Text("请写上一个学号或工号。", "Give one id.")
    only_student_s_binding = Text("只能重置学生的绑定。", "Only a student's binding can be reset.")


BINDERS = frozenset({Role.COUNSELOR, Role.COLLEGE_ADMIN, Role.SCHOOL_ADMIN})


@router.command(
    "bind",
    "绑定",
    roles=ALL_ROLES,
    open_to_unbound=True,
    usage=IdentityTexts.bind_usage.pair,
    help=IdentityTexts.bind_help.pair,
)
def bind(ctx: Context, args: Args) -> None:
    if len(args) < 2:
        raise BadArguments(IdentityTexts.give_your_id_and)
    number = normalize(args.tokens[0])
    name = args.tokens[1]
    code = normalize(args.tokens[2]) if len(args) > 2 else None
    if len(args) > 3:
        raise BadArguments(IdentityTexts.too_many_arguments)
    group = None
    if ctx.message.is_group:
        group = identity.require_group(ctx.group)
        code = None
    msg = ctx.message
    try:
        person = identity.bind_account(
            ctx.session,
            platform=msg.platform,
            user_id=msg.sender_id,
            display_name=msg.sender_name,
            number=number,
            name=name,
            group=group,
            code=code,
            now=ctx.now,
            directory=(msg.directory.job_number, msg.directory.mobile) if msg.directory else None,
        )
    except BadCode as e:
        # Kept, unlike the rest of a refused command: the log is what limits guessing.
        identity.record_bad_code(
            ctx.session, platform=msg.platform, user_id=msg.sender_id, number=number, now=ctx.now
        )
        ctx.reply(e.render(ctx.lang))
        return
    except AlreadyBound as e:
        _tell_counselors_of_taken_id(ctx, number)
        ctx.reply(e.render(ctx.lang))
        return
    text = ctx.render(IdentityTexts.bound_to_name_number, name=person.name, number=person.number)
    if Role(person.role).is_student and not consent.has_consent(
        person, ctx.config.privacy.notice_version
    ):
        text += "\n\n" + notice(ctx.config)
    ctx.reply(text)


def _tell_counselors_of_taken_id(ctx: Context, number: str) -> None:
    """Someone tried to bind a student who is already bound: their counselors hear at once."""
    person = identity.find_person(ctx.session, number)
    if person is None or person.class_id is None:
        return
    counselors = identity.staff_for_class(ctx.session, person.class_id, (Role.COUNSELOR,))
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=None,
        actor_label=f"{ctx.message.platform}:{ctx.message.sender_id}",
        action="bind_taken",
        target=f"person:{number}",
    )
    ctx.notify(
        (p.id for p in counselors),
        ctx.render(IdentityTexts.another_account_tried_to, name=person.name, number=number),
    )


@router.command(
    "bindgroup",
    "绑定班级",
    roles=BINDERS,
    where=Where.GROUP,
    usage=IdentityTexts.bindgroup_usage.pair,
    help=IdentityTexts.bindgroup_help.pair,
)
def bindgroup(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    if len(args) != 1:
        raise BadArguments(IdentityTexts.give_one_class_code)
    cls, new = identity.bind_group(
        ctx.session,
        platform=ctx.message.platform,
        chat_id=ctx.message.chat_id,
        title=ctx.message.chat_title,
        class_code=args.tokens[0],
        actor_id=actor.person_id,
        class_ids=actor.class_ids,
        all_classes=actor.all_classes,
        now=ctx.now,
    )
    if new:
        audit.record(
            ctx.session, at=ctx.now, actor=actor, action="bindgroup", target=f"class:{cls.code}"
        )
    ctx.reply(ctx.render(IdentityTexts.this_group_is_now, cls=cls.code))


@router.command(
    "unbind",
    "解绑",
    roles=BINDERS,
    usage=IdentityTexts.unbind_usage.pair,
    help=IdentityTexts.unbind_help.pair,
)
def unbind(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    if len(args) != 1:
        raise BadArguments(IdentityTexts.give_one_student_id)
    number = normalize(args.tokens[0])
    person = identity.find_person(ctx.session, number)
    if person is None:
        raise NotFound(what=IdentityTexts.person_number.bind(number=number))
    if person.class_id is None:
        if not actor.all_classes:
            raise BadArguments(IdentityTexts.only_student_s_binding)
    else:
        actor.require_class(person.class_id, IdentityTexts.binding_of_number.bind(number=number))
    removed = identity.unbind_person(ctx.session, person.id)
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=actor,
        action="unbind",
        target=f"person:{person.number}",
        detail={"accounts": removed},
    )
    ctx.reply(
        ctx.render(
            IdentityTexts.reset_binding_of_name, name=person.name, number=person.number, n=removed
        )
    )


@router.command(
    "invite",
    "绑定码",
    roles=BINDERS,
    where=Where.PRIVATE,
    usage=IdentityTexts.invite_usage.pair,
    help=IdentityTexts.invite_help.pair,
)
def invite(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    if len(args) != 1:
        raise BadArguments(IdentityTexts.give_one_id)
    number = normalize(args.tokens[0])
    person = identity.find_person(ctx.session, number)
    if person is None:
        raise NotFound(what=IdentityTexts.person_number.bind(number=number))
    if not identity.may_issue_code(ctx.session, actor, person):
        issuers = _issuers(Role(person.role)).bind()
        raise OutOfScope(what=IdentityTexts.code_for.bind(number=number, issuers=issuers))
    code = identity.issue_code(ctx.session, person.id, actor.person_id, ctx.now)
    audit.record(ctx.session, at=ctx.now, actor=actor, action="invite", target=f"person:{number}")
    ctx.reply(
        ctx.render(IdentityTexts.code_for_name_number, name=person.name, number=number, code=code)
    )


def _issuers(role: Role) -> Text:
    """Who issues codes for a person of this role, for the refusal."""
    if role.is_student:
        return IdentityTexts.issued_for_students
    if role is Role.HEAD_TEACHER:
        return IdentityTexts.issued_for_head_teachers
    if role is Role.COUNSELOR:
        return IdentityTexts.issued_for_counselors
    return IdentityTexts.issued_for_admins
