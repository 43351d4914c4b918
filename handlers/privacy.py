"""隐私: the privacy notice, and a student's separate consent to sensitive data (PIPL Art. 29)."""

from __future__ import annotations

import re

from bot.config import Config
from bot.messages import PersonAddress
from bot.router import ALL_ROLES, Args, CommandRouter, Context, normalize
from bot.texts import Catalogue, Text
from handlers import care
from storage import consent, identity, subsidy
from storage.errors import BadArguments
from storage.models import Role, SchoolClass

router = CommandRouter("privacy")


class PrivacyTexts(Catalogue):
    notice = Text(
        "隐私说明（第 {version} 版）\n"
        "收集什么：学号、姓名、聊天账号；每日健康打卡（体温、症状、城市、备注）；"
        "请假申请；临时困难补助申请（金额、理由）；网课考勤。\n"
        "为什么：学院每日健康日报、请假审批、补助审核和考勤记录。健康和家庭经济信息属于"
        "敏感个人信息，只有在你单独同意后才会收集。\n"
        "谁能看到：你本人、你的辅导员和班主任、学院学工办、学校学工部；补助信息只有你本人、"
        "辅导员、学院学工办和学校学工部能看到（班主任、班长看不到）。"
        "群里只显示人数，不显示任何人的健康详情。\n"
        "保存多久：打卡详情 {retention_days} 天，补助记录 {subsidy_retention_days} 天，"
        "到期删除，只保留不含个人信息的每日人数统计。\n"
        "你的权利：发送「我的」查看自己的记录；随时可发送「撤回同意」。联系：{contact}。\n"
        "发送「同意」即表示同意。",
        "Privacy notice (version {version})\n"
        "What: your student id, name and chat account; daily health check-ins "
        "(temperature, symptoms, city, note); leave requests; hardship subsidy "
        "applications (amount, reason); online-class attendance.\n"
        "Why: the college's daily health report, leave approval, subsidy review and "
        "attendance records. Health and family-finance data are sensitive personal "
        "information: they are only taken after you agree.\n"
        "Who sees it: you; your counselor and head teacher; the college student affairs "
        "office; the school student affairs office. Subsidy data: only you, your "
        "counselor and the college and school offices, not the head teacher or the "
        "monitor. In the group chat the bot shows only counts, "
        "never your health details.\n"
        "How long: check-in details {retention_days} days, subsidy records "
        "{subsidy_retention_days} days; after that only anonymous daily counts stay.\n"
        "Your rights: /mine shows your records; /withdraw withdraws consent at any time. "
        "Questions: {contact}.\n"
        "Send /agree to agree.",
    )
    default_contact = Text("学院学工办", "the college student affairs office")
    privacy_usage = Text("隐私", "/privacy")
    privacy_help = Text(
        "查看隐私说明：收集什么、谁能看到、保存多久", "the privacy notice: what, who, how long"
    )
    agree_usage = Text(
        "同意\u3000或\u3000同意 <版本号>，例：同意 1", "/agree or /agree <version>, e.g. /agree 1"
    )
    agree_help = Text(
        "同意隐私说明，之后才能提交健康和补助信息",
        "agree to the privacy notice (needed before health and subsidy data)",
    )
    withdraw_usage = Text("撤回同意，再发送：撤回同意 确认", "/withdraw, then: /withdraw confirm")
    withdraw_help = Text(
        "撤回隐私同意：不再接收你的健康和补助信息",
        "withdraw consent: no more health or subsidy data is taken from you",
    )
    consent_withdrawn_no_more = Text(
        "✓ 已撤回同意。之后不再接收你的健康打卡和补助申请；已有记录按保存期限删除。如需恢复，发送「同意」。",
        "✓ Consent withdrawn. No more check-ins or subsidy applications are taken from you; existing records are deleted when their retention ends. Send /agree to resume.",
    )
    recorded_name_agrees_to = Text(
        "✓ 已记录：{name} 同意第 {v} 版隐私说明。随时可发送「撤回同意」。",
        "✓ Recorded: {name} agrees to privacy notice version {v}. Send /withdraw at any time.",
    )
    name_number_cls_withdrew = Text(
        "ℹ️ {name}（{number}，{cls}）撤回了隐私同意：之后不再接收其健康打卡和补助申请，请线下了解情况。",
        "ℹ️ {name} ({number}, {cls}) withdrew consent: no more check-ins or subsidy applications are taken from them; please follow up in person.",
    )
    you_have_no_consent = Text("你目前没有同意记录，无需撤回。", "You have no consent on record.")
    withdrawing_consent_means_no = Text(
        "撤回同意后：之后不再接收你的健康打卡和补助申请，已有记录按保存期限删除。",
        "Withdrawing consent means: no more check-ins or subsidy applications are taken from you; existing records are deleted when their retention ends.",
    )
    to_withdraw_send_withdraw = Text(
        "确认撤回请发送：撤回同意 确认", "To withdraw, send: /withdraw confirm"
    )
    your_subsidy_application_ref = Text(
        "你正在审核中的补助申请 {ref} 已一并撤销。",
        "Your subsidy application {ref} under review was withdrawn with it.",
    )
    sent_to_you_privately = Text("已私信发给你。", "Sent to you privately.")
    you_have_agreed_to = Text("（你已同意本版说明。）", "(You have agreed to this version.)")
    you_have_not_agreed = Text(
        "（你还没有同意本版说明。）", "(You have not agreed to this version yet.)"
    )
    your_subsidy_application_ref_2 = Text(
        "你正在审核中的补助申请 {ref} 也会一并撤销。",
        "Your subsidy application {ref} under review is withdrawn with it.",
    )
    send_just_withdraw_first = Text(
        "撤回同意请先只发送「撤回同意」，看清撤回的内容后再发送：撤回同意 确认",
        "Send just /withdraw first; after reading what it withdraws, send: /withdraw confirm",
    )
    current_privacy_notice_is = Text(
        "当前的隐私说明是第 {version} 版。请先发送「隐私」阅读，再发送：同意",
        "The current privacy notice is version {version}. Send /privacy to read it, then send: /agree",
    )
    to_agree_send_just = Text(
        "同意隐私说明只需发送「同意」两个字（或加版本号：同意 1），不要加别的内容。",
        "To agree, send just /agree (or /agree with the version number), nothing else.",
    )


def notice(config: Config) -> str:
    """The privacy notice: what is collected, why, who sees it and for how long."""
    p = config.privacy
    lang = config.bot.language
    return PrivacyTexts.notice(
        lang,
        version=p.notice_version,
        retention_days=p.retention_days,
        subsidy_retention_days=p.subsidy_retention_days,
        contact=p.contact or PrivacyTexts.default_contact(lang),
    )


def consent_prompt(ctx: Context) -> str | None:
    """The notice for a student who has not agreed to its current version yet, else None."""
    actor = ctx.actor
    if actor is None or not actor.role.is_student:
        return None
    if consent.has_consent(actor, ctx.config.privacy.notice_version):
        return None
    return notice(ctx.config)


@router.command(
    "privacy",
    "隐私",
    roles=ALL_ROLES,
    open_to_unbound=True,
    aliases=("隐私说明",),
    usage=PrivacyTexts.privacy_usage.pair,
    help=PrivacyTexts.privacy_help.pair,
)
def privacy(ctx: Context, args: Args) -> None:
    text = notice(ctx.config)
    actor = ctx.actor
    if actor is not None and actor.role.is_student:
        agreed = consent.has_consent(actor, ctx.config.privacy.notice_version)
        text += "\n" + (
            ctx.render(PrivacyTexts.you_have_agreed_to)
            if agreed
            else ctx.render(PrivacyTexts.you_have_not_agreed)
        )
    ctx.reply(text)


# 同意 and 撤回同意 are also everyday chat (同意楼上): in a group only the whole message,
# or with the notice version (同意 1) or the confirmation (撤回同意 确认), is consent.
_VERSION = re.compile(r"(?:(?:v|第)?(\d{1,3})版?)").pattern
_CONFIRM = ("确认", "确定", "confirm", "yes")


@router.command(
    "agree",
    "同意",
    roles=ALL_ROLES,
    aliases=("同意隐私说明",),
    also_chat=_VERSION + "?",
    usage=PrivacyTexts.agree_usage.pair,
    help=PrivacyTexts.agree_help.pair,
)
def agree(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    purpose = care.purpose_of(args.text)
    if purpose is not None:
        care.give(ctx, actor, purpose)
        return
    version = ctx.config.privacy.notice_version
    given = _given_version(args)
    if given is not None and given != version:
        raise BadArguments(
            PrivacyTexts.current_privacy_notice_is,
            version=version,
        )
    consent.agree(ctx.session, actor, version, ctx.now)
    ctx.reply(ctx.render(PrivacyTexts.recorded_name_agrees_to, name=actor.name, v=version))


def _given_version(args: Args) -> int | None:
    """The notice version after 同意, or None; anything else is not consent."""
    if not args.text:
        return None
    m = re.fullmatch(_VERSION, normalize(args.text).lower())
    if m is None:
        raise BadArguments(
            PrivacyTexts.to_agree_send_just,
        )
    return int(m.group(1))


@router.command(
    "withdraw",
    "撤回同意",
    roles=ALL_ROLES,
    also_chat="(?:确认|确定)?",
    usage=PrivacyTexts.withdraw_usage.pair,
    help=PrivacyTexts.withdraw_help.pair,
)
def withdraw(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    purpose = care.purpose_of(args.text)
    if purpose is not None:
        care.withdraw(ctx, actor, purpose)
        return
    confirmed = _confirmed(args)
    # What a withdrawal takes with it is the student's own business: never in a group.
    in_group = ctx.message.is_group
    if not consent.has_consent(actor, 1):
        ctx.reply(ctx.render(PrivacyTexts.you_have_no_consent))
        return
    pending = subsidy.open_application(ctx.session, actor.person_id)
    if not confirmed:
        lines = [ctx.render(PrivacyTexts.withdrawing_consent_means_no)]
        if pending is not None:
            lines.append(
                ctx.render(
                    PrivacyTexts.your_subsidy_application_ref_2,
                    ref=subsidy.SUBSIDY.ref(pending.number),
                )
            )
        lines.append(ctx.render(PrivacyTexts.to_withdraw_send_withdraw))
        _private(ctx, "\n".join(lines), in_group)
        return
    consent.withdraw(ctx.session, actor, ctx.now)
    # Subsidy processing stops too: an application under review is withdrawn with it.
    cancelled = subsidy.cancel_open_on_withdrawal(ctx.session, actor, ctx.now)
    text = ctx.render(PrivacyTexts.consent_withdrawn_no_more)
    if cancelled is not None:
        text += "\n" + ctx.render(
            PrivacyTexts.your_subsidy_application_ref, ref=subsidy.SUBSIDY.ref(cancelled.number)
        )
    _private(ctx, text, in_group)
    if actor.class_id is None:
        return
    cls = ctx.session.get(SchoolClass, actor.class_id)
    counselors = identity.staff_for_class(ctx.session, actor.class_id, (Role.COUNSELOR,))
    ctx.notify(
        (p.id for p in counselors),
        ctx.render(
            PrivacyTexts.name_number_cls_withdrew,
            name=actor.name,
            number=actor.number,
            cls=cls.code if cls else "?",
        ),
    )


def _confirmed(args: Args) -> bool:
    if not args.text:
        return False
    if normalize(args.text).lower() in _CONFIRM:
        return True
    raise BadArguments(
        PrivacyTexts.send_just_withdraw_first,
    )


def _private(ctx: Context, text: str, in_group: bool) -> None:
    actor = ctx.require_actor()
    if in_group:
        ctx.send(PersonAddress(actor.person_id), text)
        ctx.reply(ctx.render(PrivacyTexts.sent_to_you_privately))
    else:
        ctx.reply(text)
