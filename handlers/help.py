"""帮助: lists exactly the commands the asker may use, from the commands' own declarations, with
examples that name the asker's own class and dates around today."""

from __future__ import annotations

from bot.router import ALL_ROLES, Args, CommandRouter, Context
from bot.texts import Catalogue, Text

router = CommandRouter("help")


class HelpTexts(Catalogue):
    help_usage = Text("帮助", "/help")
    help_help = Text("列出你可以使用的命令", "list what you can do")
    you_can_use = Text("你可以使用：", "You can use:")
    bind_first_in_your = Text(
        "先绑定身份：在班级群里发送「绑定 <学号> <姓名>」。",
        "Bind first: in your class group send /bind <id> <name>.",
    )


# Open to every role, but only a student has anything to do with them: staff send no health
# data to consent to, and have no check-ins, leave or subsidies of their own.
STUDENT_ITEMS = frozenset({"mine", "agree", "withdraw"})


@router.command(
    "help",
    "帮助",
    roles=ALL_ROLES,
    open_to_unbound=True,
    aliases=("start", "菜单"),
    usage=HelpTexts.help_usage.pair,
    help=HelpTexts.help_help.pair,
)
def help_(ctx: Context, args: Args) -> None:
    actor = ctx.actor
    role = actor.role if actor else None
    lang = ctx.lang
    examples = ctx.dispatcher.examples(ctx.session, actor)
    lines = [ctx.render(HelpTexts.you_can_use)]
    for cmd in ctx.dispatcher.visible_commands(role):
        if role is not None and role.is_staff and cmd.name in STUDENT_ITEMS:
            continue
        if actor is not None and cmd.name == "bind":
            # Already bound: binding again is not something to offer.
            continue
        lines.append(f"• {cmd.usage(lang, examples)}\n  {cmd.help(lang)}")
    if actor is None:
        lines.append(ctx.render(HelpTexts.bind_first_in_your))
    ctx.reply("\n".join(lines))
