"""帮助: lists exactly the commands the asker may use, from the commands' own declarations, with
examples that name the asker's own class and dates around today."""

from __future__ import annotations

from bot.router import ALL_ROLES, Args, CommandRouter, Context

router = CommandRouter("help")

# Open to every role, but only a student has anything to do with them: staff send no health
# data to consent to, and have no check-ins, leave or subsidies of their own.
STUDENT_ITEMS = frozenset({"mine", "agree", "withdraw"})


@router.command(
    "help",
    "帮助",
    roles=ALL_ROLES,
    open_to_unbound=True,
    aliases=("start", "菜单"),
    usage=("帮助", "/help"),
    help=("列出你可以使用的命令", "list what you can do"),
)
def help_(ctx: Context, args: Args) -> None:
    actor = ctx.actor
    role = actor.role if actor else None
    lang = ctx.lang
    examples = ctx.dispatcher.examples(ctx.session, actor)
    lines = [ctx.t("你可以使用：", "You can use:")]
    for cmd in ctx.dispatcher.visible_commands(role):
        if role is not None and role.is_staff and cmd.name in STUDENT_ITEMS:
            continue
        if actor is not None and cmd.name == "bind":
            # Already bound: binding again is not something to offer.
            continue
        lines.append(f"• {cmd.usage(lang, examples)}\n  {cmd.help(lang)}")
    if actor is None:
        lines.append(
            ctx.t(
                "先绑定身份：在班级群里发送「绑定 <学号> <姓名>」。",
                "Bind first: in your class group send /bind <id> <name>.",
            )
        )
    ctx.reply("\n".join(lines))
