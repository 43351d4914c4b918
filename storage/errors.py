"""Typed domain errors. The router turns each into the user's reply, in the user's language."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A request the bot refuses; nothing it asked for is stored."""

    zh: ClassVar[str] = "操作未完成。"
    en: ClassVar[str] = "That did not work."
    # Show the command's usage line under the message.
    show_usage: ClassVar[bool] = False
    # An authorization refusal, written to the audit log.
    refusal: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        super().__init__(f"{type(self).__name__}({params})")
        self.params = params

    def render(self, lang: str) -> str:
        template = self.en if lang == "en" else self.zh
        return template.format(**self.params)


class BadArguments(DomainError):
    zh = "{problem}"
    en = "{problem_en}"
    show_usage = True

    def __init__(self, problem: str, problem_en: str | None = None, **params: Any) -> None:
        super().__init__(problem=problem, problem_en=problem_en or problem, **params)


class OutOfRange(DomainError):
    zh = "{what}应在 {low}–{high} 之间。"
    en = "{what_en} must be between {low} and {high}."
    show_usage = True


class TextTooLong(DomainError):
    zh = "{what}太长：最多 {limit} 个字。"
    en = "{what_en} is too long: at most {limit} characters."
    show_usage = True


class NotBound(DomainError):
    zh = "你还没有绑定身份。请在班级群里发送：绑定 <学号> <姓名>（例：绑定 2020001 张三），或在私聊中附上辅导员给的绑定码。"
    en = "You are not bound yet. In your class group send: /bind <student id> <name>, or in private chat add the one-time code from your counselor."


class NotAllowed(DomainError):
    zh = "你没有权限使用「{command}」。发送「帮助」查看你可以用的命令。"
    en = "You may not use /{command_en}. Send /help to see what you can do."
    refusal = True


class OutOfScope(DomainError):
    zh = "你无权处理{what}。"
    en = "{what_en} is outside your classes."
    refusal = True


class PrivateOnly(DomainError):
    zh = "这件事请私聊我办理，群里不会保存你发的内容。"
    en = "Please message me privately for this; nothing you sent here was stored."


class GroupOnly(DomainError):
    zh = "这个命令要在班级群里使用。"
    en = "Use this command in the class group."


class ForeignGroup(DomainError):
    """A command about one class, sent in the group of another."""

    zh = "{where}，不在这里谈{what}。{hint}"
    en = "{where_en}; {what_en} is not discussed here. {hint_en}"
    refusal = True


class GroupNotBound(DomainError):
    zh = "本群还没有绑定班级。请辅导员在群里发送：绑定班级 <班级>（例：绑定班级 护理172）。"
    en = "This group is not bound to a class yet. A counselor can send: /bindgroup <class code>."


class NotOnRoster(DomainError):
    zh = "花名册里没有 {number} {name}，请核对学号和姓名。"
    en = "{number} {name} is not on the roster; check the id and the name."


class NotFound(DomainError):
    zh = "找不到{what}。"
    en = "{what_en} not found."


class AlreadyBound(DomainError):
    zh = "{number} 已绑定其他账号。如果是你本人换了账号，辅导员可以重置绑定（发送：解绑 {number}），已通知辅导员。"
    en = "{number} is already bound to another account. Your counselor can reset it (/unbind {number}); they have been told."


class AccountBoundToOther(DomainError):
    zh = "这个账号已绑定 {number}，不能再绑定别人。"
    en = "This account is already bound to {number}."


class WrongGroup(DomainError):
    zh = "{number} 不在本群绑定的班级（{class_code}），请在自己班级的群里绑定。"
    en = "{number} is not in this group's class ({class_code}); bind in your own class group."


class BadCode(DomainError):
    zh = "绑定码无效或已过期，请向辅导员重新获取。"
    en = "That code is invalid or has expired; ask your counselor for a new one."


class TooManyCodes(DomainError):
    zh = "绑定码输错次数太多，请 {minutes} 分钟后再试，或向辅导员重新获取绑定码。"
    en = "Too many wrong codes; try again in {minutes} minutes, or ask for a new code."
    refusal = True


class StaffBindsPrivately(DomainError):
    zh = (
        "教职工账号不能在群里绑定。请私聊我发送：绑定 {number} <姓名> <绑定码>。"
        "绑定码由学院学工办或学工部生成（辅导员可为所带班级的班主任生成）。"
    )
    en = (
        "Staff accounts cannot be bound in a group. Message me privately: "
        "/bind {number} <name> <code>; the college or school student affairs office "
        "issues the code (a counselor, for the head teachers of their classes)."
    )
    refusal = True


class CodeRequired(DomainError):
    zh = "私聊绑定需要辅导员给的一次性绑定码：绑定 <学号> <姓名> <绑定码>。也可以在班级群里直接绑定。"
    en = "Binding in private chat needs a one-time code from your counselor: /bind <id> <name> <code>. Or bind in your class group."


class NotPending(DomainError):
    zh = "{ref} 当前状态是「{state}」，不能再{action}。"
    en = "{ref} is {state_en}; it cannot be {action_en} now."


class TooLate(DomainError):
    zh = "{ref} 已超过 {days} 天，不能再{action}。"
    en = "{ref} is more than {days} days past; it cannot be {action_en} now."


class ConsentRequired(DomainError):
    zh = "提交健康信息前需要你同意隐私说明。发送「同意」即表示同意，发送「隐私」查看说明。"
    en = "Before you send health data, please agree to the privacy notice: send /agree (or /privacy to read it)."


class NotYourStep(DomainError):
    zh = "{ref} 当前状态是「{state}」，这一步应由{who}处理。"
    en = "{ref} is {state_en}; this step is for {who_en}."


class LeaveOverlaps(DomainError):
    zh = "与已有的请假 {ref}（{start} 至 {end}，{state}）时间重叠，请先撤销或销假。"
    en = "This overlaps your leave {ref} ({start} to {end}, {state_en}); cancel or end it first."


class OpenApplicationExists(DomainError):
    zh = "你已有一份正在审核的补助申请 {ref}，审核结束后才能再申请。发送「我的」查看进度。"
    en = "You already have an open subsidy application {ref}; wait until it is decided. Send /mine to see it."


class AmountTooHigh(DomainError):
    zh = "批准金额不能高于当前金额 {current}。"
    en = "The approved amount cannot be more than the current {current}."


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
        code = self.params["class_code"]
        lines = []
        if lang == "en":
            if self.unknown:
                lines.append(f"Not on the roster of {code}: {', '.join(self.unknown)}.")
            for token, candidates in self.ambiguous:
                lines.append(
                    f"“{token}” matches several students: {', '.join(candidates)}; "
                    "write more of the id."
                )
            lines.append("Nothing was stored; correct it and send the whole posting again.")
        else:
            if self.unknown:
                lines.append(f"{code} 的花名册里没有：{'、'.join(self.unknown)}。")
            for token, candidates in self.ambiguous:
                lines.append(f"「{token}」对应多名同学：{'、'.join(candidates)}，请写得更完整。")
            lines.append("这次考勤没有保存，请改正后整条重发。")
        return "\n".join(lines)


class AbsentAndLate(DomainError):
    zh = "{names} 同时写在了「缺勤」和「迟到」里，请只写一处。这次考勤没有保存。"
    en = "{names} listed both as absent and as late; list each student once. Nothing was stored."


class CheckinOff(DomainError):
    zh = "本校目前不做每日健康打卡，不需要打卡。"
    en = "There is no daily health check-in here at the moment."
