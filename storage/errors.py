"""Typed domain errors. The router turns each into the user's reply, in the user's language."""

from __future__ import annotations

from typing import Any, ClassVar

from bot.texts import Catalogue, Phrase, Text, resolve


class ErrorTexts(Catalogue):
    domain_error = Text("操作未完成。", "That did not work.")
    bad_arguments = Text(
        "{problem}",
        "{problem}",
    )
    out_of_range = Text(
        "{what}应在 {low}–{high} 之间。",
        "{what} must be between {low} and {high}.",
    )
    text_too_long = Text(
        "{what}太长：最多 {limit} 个字。",
        "{what} is too long: at most {limit} characters.",
    )
    not_bound = Text(
        "你还没有绑定身份。请在班级群里发送：绑定 <学号> <姓名>（例：绑定 2020001 张三），或在私聊中附上辅导员给的绑定码。",
        "You are not bound yet. In your class group send: /bind <student id> <name>, or in private chat add the one-time code from your counselor.",
    )
    not_allowed = Text(
        "你没有权限使用「{command}」。发送「帮助」查看你可以用的命令。",
        "You may not use /{command}. Send /help to see what you can do.",
    )
    out_of_scope = Text(
        "你无权处理{what}。",
        "{what} is outside your classes.",
    )
    private_only = Text(
        "这件事请私聊我办理，群里不会保存你发的内容。",
        "Please message me privately for this; nothing you sent here was stored.",
    )
    group_only = Text(
        "这个命令要在班级群里使用。",
        "Use this command in the class group.",
    )
    foreign_group = Text(
        "{where}，不在这里谈{what}。{hint}",
        "{where}; {what} is not discussed here. {hint}",
    )
    group_not_bound = Text(
        "本群还没有绑定班级。请辅导员在群里发送：绑定班级 <班级>（例：绑定班级 护理172）。",
        "This group is not bound to a class yet. A counselor can send: /bindgroup <class code>.",
    )
    not_on_roster = Text(
        "花名册里没有 {number} {name}，请核对学号和姓名。",
        "{number} {name} is not on the roster; check the id and the name.",
    )
    not_found = Text(
        "找不到{what}。",
        "{what} not found.",
    )
    already_bound = Text(
        "{number} 已绑定其他账号。如果是你本人换了账号，辅导员可以重置绑定（发送：解绑 {number}），已通知辅导员。",
        "{number} is already bound to another account. Your counselor can reset it (/unbind {number}); they have been told.",
    )
    account_bound_to_other = Text(
        "这个账号已绑定 {number}，不能再绑定别人。",
        "This account is already bound to {number}.",
    )
    wrong_group = Text(
        "{number} 不在本群绑定的班级（{class_code}），请在自己班级的群里绑定。",
        "{number} is not in this group's class ({class_code}); bind in your own class group.",
    )
    bad_code = Text(
        "绑定码无效或已过期，请向辅导员重新获取。",
        "That code is invalid or has expired; ask your counselor for a new one.",
    )
    too_many_codes = Text(
        "绑定码输错次数太多，请 {minutes} 分钟后再试，或向辅导员重新获取绑定码。",
        "Too many wrong codes; try again in {minutes} minutes, or ask for a new code.",
    )
    staff_binds_privately = Text(
        "教职工账号不能在群里绑定。请私聊我发送：绑定 {number} <姓名> <绑定码>。绑定码由学院学工办或学工部生成（辅导员可为所带班级的班主任生成）。",
        "Staff accounts cannot be bound in a group. Message me privately: /bind {number} <name> <code>; the college or school student affairs office issues the code (a counselor, for the head teachers of their classes).",
    )
    code_required = Text(
        "私聊绑定需要辅导员给的一次性绑定码：绑定 <学号> <姓名> <绑定码>。也可以在班级群里直接绑定。",
        "Binding in private chat needs a one-time code from your counselor: /bind <id> <name> <code>. Or bind in your class group.",
    )
    not_pending = Text(
        "{ref} 当前状态是「{state}」，不能再{action}。",
        "{ref} is {state}; it cannot be {action} now.",
    )
    too_late = Text(
        "{ref} 已超过 {days} 天，不能再{action}。",
        "{ref} is more than {days} days past; it cannot be {action} now.",
    )
    consent_required = Text(
        "提交健康信息前需要你同意隐私说明。发送「同意」即表示同意，发送「隐私」查看说明。",
        "Before you send health data, please agree to the privacy notice: send /agree (or /privacy to read it).",
    )
    not_your_step = Text(
        "{ref} 当前状态是「{state}」，这一步应由{who}处理。",
        "{ref} is {state}; this step is for {who}.",
    )
    leave_overlaps = Text(
        "与已有的请假 {ref}（{start} 至 {end}，{state}）时间重叠，请先撤销或销假。",
        "This overlaps your leave {ref} ({start} to {end}, {state}); cancel or end it first.",
    )
    open_application_exists = Text(
        "你已有一份正在审核的补助申请 {ref}，审核结束后才能再申请。发送「我的」查看进度。",
        "You already have an open subsidy application {ref}; wait until it is decided. Send /mine to see it.",
    )
    amount_too_high = Text(
        "批准金额不能高于当前金额 {current}。",
        "The approved amount cannot be more than the current {current}.",
    )
    checkin_off = Text(
        "本校目前不做每日健康打卡，不需要打卡。",
        "There is no daily health check-in here at the moment.",
    )
    absent_and_late = Text(
        "{names} 同时写在了「缺勤」和「迟到」里，请只写一处。这次考勤没有保存。",
        "{names} listed both as absent and as late; list each student once. Nothing was stored.",
    )
    not_on_roster_of = Text(
        "{class_code} 的花名册里没有：{names}。", "Not on the roster of {class_code}: {names}."
    )
    ambiguous_name = Text(
        "「{token}」对应多名同学：{candidates}，请写得更完整。",
        "“{token}” matches several students: {candidates}; write more of the id.",
    )
    attendance_not_stored = Text(
        "这次考勤没有保存，请改正后整条重发。",
        "Nothing was stored; correct it and send the whole posting again.",
    )
    list_separator = Text("、", ", ")


class DomainError(Exception):
    """A request the bot refuses; nothing it asked for is stored.

    Parameters are values or `Phrase`s (rendered in the reader's language). A caller may
    still give a pair as `what=` and `what_en=`: the English text then reads `what_en`.
    """

    text: ClassVar[Text] = ErrorTexts.domain_error
    # Show the command's usage line under the message.
    show_usage: ClassVar[bool] = False
    # An authorization refusal, written to the audit log.
    refusal: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        super().__init__(f"{type(self).__name__}({resolve(params, 'zh')})")
        self.params = params

    def render(self, lang: str) -> str:
        return self.text(lang, **self.params_in(lang))

    def params_in(self, lang: str) -> dict[str, Any]:
        """The parameters as the text in `lang` takes them: phrases rendered, and a
        `what_en` given beside `what` read in English."""
        params = resolve(self.params, lang)
        if lang == "en":
            for key in [k for k in params if k.endswith("_en")]:
                params[key[:-3]] = params.pop(key)
        else:
            params = {k: v for k, v in params.items() if not k.endswith("_en")}
        return params


class BadArguments(DomainError):
    text = ErrorTexts.bad_arguments
    show_usage = True

    def __init__(
        self, problem: str | Text | Phrase, problem_en: str | None = None, **params: Any
    ) -> None:
        """`problem` is a catalogue text (formatted with `params`), a phrase, or a zh/en pair."""
        if isinstance(problem, Text):
            problem = problem.bind(**params)
        if isinstance(problem, Phrase):
            super().__init__(problem=problem)
        else:
            super().__init__(problem=problem, problem_en=problem_en or problem, **params)


class OutOfRange(DomainError):
    text = ErrorTexts.out_of_range
    show_usage = True


class TextTooLong(DomainError):
    text = ErrorTexts.text_too_long
    show_usage = True


def check_length(value: str, what: str, what_en: str, limit: int) -> str:
    """The value if it is at most `limit` characters; otherwise a refusal naming `what` in
    the reader's language."""
    if len(value) > limit:
        raise TextTooLong(what=what, what_en=what_en, limit=limit)
    return value


class NotBound(DomainError):
    text = ErrorTexts.not_bound


class NotAllowed(DomainError):
    text = ErrorTexts.not_allowed
    refusal = True


class OutOfScope(DomainError):
    text = ErrorTexts.out_of_scope
    refusal = True


class PrivateOnly(DomainError):
    text = ErrorTexts.private_only


class GroupOnly(DomainError):
    text = ErrorTexts.group_only


class ForeignGroup(DomainError):
    """A command about one class, sent in the group of another."""

    text = ErrorTexts.foreign_group
    refusal = True


class GroupNotBound(DomainError):
    text = ErrorTexts.group_not_bound


class NotOnRoster(DomainError):
    text = ErrorTexts.not_on_roster


class NotFound(DomainError):
    text = ErrorTexts.not_found


class AlreadyBound(DomainError):
    text = ErrorTexts.already_bound


class AccountBoundToOther(DomainError):
    text = ErrorTexts.account_bound_to_other


class WrongGroup(DomainError):
    text = ErrorTexts.wrong_group


class BadCode(DomainError):
    text = ErrorTexts.bad_code


class TooManyCodes(DomainError):
    text = ErrorTexts.too_many_codes
    refusal = True


class StaffBindsPrivately(DomainError):
    text = ErrorTexts.staff_binds_privately
    refusal = True


class CodeRequired(DomainError):
    text = ErrorTexts.code_required


class NotPending(DomainError):
    text = ErrorTexts.not_pending


class TooLate(DomainError):
    text = ErrorTexts.too_late


class ConsentRequired(DomainError):
    text = ErrorTexts.consent_required


class NotYourStep(DomainError):
    text = ErrorTexts.not_your_step


class LeaveOverlaps(DomainError):
    text = ErrorTexts.leave_overlaps


class OpenApplicationExists(DomainError):
    text = ErrorTexts.open_application_exists


class AmountTooHigh(DomainError):
    text = ErrorTexts.amount_too_high


class RosterMismatch(DomainError):
    """Attendance names someone who is not (or not unambiguously) on the class roster."""

    def __init__(
        self,
        class_code: str,
        unknown: list[str],
        ambiguous: list[tuple[str, list[str]]],
    ) -> None:
        super().__init__(class_code=class_code, unknown=unknown, ambiguous=ambiguous)
        self.unknown = unknown
        self.ambiguous = ambiguous

    def render(self, lang: str) -> str:
        comma = ErrorTexts.list_separator(lang)
        lines = []
        if self.unknown:
            lines.append(
                ErrorTexts.not_on_roster_of(
                    lang, class_code=self.params["class_code"], names=comma.join(self.unknown)
                )
            )
        for token, candidates in self.ambiguous:
            lines.append(
                ErrorTexts.ambiguous_name(lang, token=token, candidates=comma.join(candidates))
            )
        lines.append(ErrorTexts.attendance_not_stored(lang))
        return "\n".join(lines)


class AbsentAndLate(DomainError):
    text = ErrorTexts.absent_and_late


class CheckinOff(DomainError):
    text = ErrorTexts.checkin_off
