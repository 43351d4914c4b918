"""帮助: lists exactly the commands the asker may use, from the commands' own declarations."""

from __future__ import annotations

from bot.router import ALL_ROLES, Args, CommandRouter, Context

router = CommandRouter("help")


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
    role = ctx.actor.role if ctx.actor else None
    lang = ctx.lang
    lines = [ctx.t("你可以使用：", "You can use:")]
    for cmd in ctx.dispatcher.visible_commands(role):
        lines.append(f"• {cmd.usage(lang)}\n  {cmd.help(lang)}")
    if ctx.actor is None:
        lines.append(
            ctx.t(
                "先绑定身份：在班级群里发送「绑定 <学号> <姓名>」。",
                "Bind first: in your class group send /bind <id> <name>.",
            )
        )
    ctx.reply("\n".join(lines))
