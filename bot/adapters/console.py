"""The console: a terminal chat for trying the bot as any roster person, with no account.

`:as <学号|工号>` speaks as that person (students in their class group, staff privately),
`:in <班级>` switches to a class group, `:dm` to private chat, `:time HH:MM` and
`:date <日期>` move the clock forward and run every job of every day passed, in order, each
at its own time (at most `console.max_jump_days` at once).
"""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.adapters.base import UNLIMITED, Adapter
from bot.clock import ManualClock
from bot.dates import parse_day
from bot.messages import ChatAddress, IncomingMessage, Mention, OutgoingMessage
from bot.texts import Catalogue, Text
from storage import files, identity

if TYPE_CHECKING:
    from bot.app import App


class ConsoleTexts(Catalogue):
    help = Text(
        """控制台命令 / console commands:
  :as <学号|工号>     以此人身份说话（学生在班级群，教职工在私聊）
  :in <班级>          切换到班级群，例 :in 护理172
  :dm                 切换到与机器人的私聊
  :time HH:MM         把时钟拨到下一个 HH:MM，途经的每个定时任务按时运行
  :date <日期>        把时钟拨到那天的当前时刻，例 :date 2026-11-24、:date 明天
  :now                显示当前时间和身份
  :help               显示本帮助
  :quit               退出
其他输入都作为聊天消息发给机器人，例如：打卡 36.5""",
        """console commands:
  :as <id>            speak as this person (students in their class group, staff privately)
  :in <class>         switch to a class group, e.g. :in <class code>
  :dm                 switch to private chat with the bot
  :time HH:MM         move the clock to the next HH:MM, running every job due on the way
  :date <date>        move the clock to that day at the current time, e.g. :date 2026-11-24
  :now                show the time and who is speaking
  :help               show this help
  :quit               quit
Anything else is a chat message to the bot, e.g. /checkin 36.5""",
    )
    group = Text("[群 {chat}]", "[group {chat}]")
    private_to = Text("[私聊 → {name}]", "[private → {name}]")
    choose_first = Text("先用 :as <学号|工号> 选择身份。", "Choose who speaks first: :as <id>.")
    now_in_group = Text("（现在在 群 {chat}）", "(now in the group {chat})")
    now_private = Text("（现在在私聊）", "(now in private chat)")
    nobody = Text("（未选择）", "(nobody)")
    in_group = Text("群 {chat}", "group {chat}")
    in_private = Text("私聊", "private chat")
    now = Text("🕐 {now}  身份 {who}  在 {where}", "🕐 {now}  as {who}  in {where}")
    unknown_command = Text(
        "未知的控制台命令 :{command}，输入 :help 查看。",
        "Unknown console command :{command}; type :help.",
    )
    not_on_roster = Text("花名册里没有 {number}。", "{number} is not on the roster.")
    speaking_as = Text(
        "（现在是 {name}（{number}），在 {where}）", "(now {name} ({number}), in {where})"
    )
    real_clock = Text(
        "时钟是真实时间，不能拨动（用 classbot demo 或 --clock 启动）。",
        "The clock is real time and cannot be moved (start with classbot demo or --clock).",
    )
    time_usage = Text("格式：:time HH:MM，例 :time 11:00", "Usage: :time HH:MM, e.g. :time 11:00")
    date_usage = Text(
        "格式：:date YYYY-MM-DD（也可写 11-24、11月24日、明天）",
        "Usage: :date YYYY-MM-DD (or 11-24, tomorrow)",
    )
    too_far = Text(
        "一次最多往后拨 {limit} 天（console.max_jump_days）；请分几次拨，例 :date {example}",
        "At most {limit} days at once (console.max_jump_days); move in steps, e.g. :date {example}",
    )


_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


class ConsoleAdapter(Adapter):
    platform = "console"
    max_text = 100_000
    limits = UNLIMITED
    drains_inline = True

    def __init__(
        self, out: TextIO | None = None, inp: TextIO | None = None, output_dir: Path | None = None
    ) -> None:
        self.out = out or sys.stdout
        self.inp = inp or sys.stdin
        self.output_dir = output_dir or Path("classbot-out")
        self.speaker: str | None = None
        self.chat: str | None = None  # a class code, or None for private chat
        self._app: App | None = None
        self._names: dict[str, str] = {}
        self._seq = 0

    @property
    def app(self) -> App:
        assert self._app is not None
        return self._app

    async def start(self, app: App) -> None:
        self._app = app

    async def stop(self) -> None:
        self._app = None

    def _t(self, text: Text, **params: object) -> str:
        """A console text in the deployment's language (Chinese before the app starts)."""
        lang = self._app.config.bot.language if self._app is not None else "zh"
        return text(lang, **params)

    def _where(self) -> str:
        if self.chat:
            return self._t(ConsoleTexts.in_group, chat=self.chat)
        return self._t(ConsoleTexts.in_private)

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def _name(self, user_id: str) -> str:
        if user_id not in self._names:
            with self.app.uow(readonly=True) as session:
                person = identity.find_person(session, user_id)
                self._names[user_id] = f"{person.name}({user_id})" if person else user_id
        return self._names[user_id]

    async def send(self, to: ChatAddress, message: OutgoingMessage) -> None:
        where = (
            self._t(ConsoleTexts.group, chat=to.chat_id)
            if to.is_group
            else self._t(ConsoleTexts.private_to, name=self._name(to.chat_id))
        )
        text = message.text
        if message.mentions:
            text = f"{text}\n" + " ".join(render_mention(m) for m in message.mentions)
        if message.buttons:
            text += "\n" + "  ".join(f"[{b.label}: {b.command}]" for b in message.buttons)
        if message.attachment is not None:
            path = self.output_dir / message.attachment.filename
            files.write_private(path, message.attachment.content)
            text += f"\n📎 {path}"
        self._print(f"{where} 🤖 {text}")

    async def repl(self) -> None:
        """Read lines until end of input; each is a console command or a chat message."""
        interactive = self.inp.isatty()
        if interactive:
            self._print(self._t(ConsoleTexts.help))
        while True:
            line = await asyncio.to_thread(self.inp.readline)
            if not line:
                break
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if not interactive:
                self._print(f"> {line}")
            if line.startswith(":"):
                if not await self.console_command(line):
                    break
            else:
                await self.say(line)

    async def say(self, text: str) -> None:
        if self.speaker is None:
            self._print(self._t(ConsoleTexts.choose_first))
            return
        self._seq += 1
        msg = IncomingMessage(
            platform=self.platform,
            chat_id=self.chat or self.speaker,
            is_group=self.chat is not None,
            sender_id=self.speaker,
            text=text,
            sent_at=self.app.clock.now(),
            message_id=f"console-{self.app.clock.now().timestamp()}-{self._seq}",
            sender_name=self._name(self.speaker),
            chat_title=self.chat or "",
        )
        await self.app.handle(msg)

    async def console_command(self, line: str) -> bool:
        cmd, _, arg = line[1:].strip().partition(" ")
        arg = arg.strip()
        if cmd in ("quit", "exit", "q"):
            return False
        if cmd == "help":
            self._print(self._t(ConsoleTexts.help))
        elif cmd == "as":
            self._as(arg)
        elif cmd == "in":
            self.chat = arg or None
            self._print(
                self._t(ConsoleTexts.now_in_group, chat=arg)
                if arg
                else self._t(ConsoleTexts.now_private)
            )
        elif cmd == "dm":
            self.chat = None
            self._print(self._t(ConsoleTexts.now_private))
        elif cmd == "time":
            await self._move_time(arg)
        elif cmd == "date":
            await self._move_date(arg)
        elif cmd == "now":
            now = self.app.clock.now().astimezone(self.app.config.tz)
            who = self._name(self.speaker) if self.speaker else self._t(ConsoleTexts.nobody)
            self._print(
                self._t(ConsoleTexts.now, now=f"{now:%Y-%m-%d %H:%M}", who=who, where=self._where())
            )
        else:
            self._print(self._t(ConsoleTexts.unknown_command, command=cmd))
        return True

    def _as(self, number: str) -> None:
        with self.app.uow(readonly=True) as session:
            person = identity.find_person(session, number)
            if person is None:
                self._print(self._t(ConsoleTexts.not_on_roster, number=number))
                return
            name = person.name
            cls = person.school_class.code if person.school_class else None
        self.speaker = number
        self.chat = cls
        self._print(
            self._t(ConsoleTexts.speaking_as, name=name, number=number, where=self._where())
        )

    def _manual_clock(self) -> ManualClock | None:
        clock = self.app.clock
        if not isinstance(clock, ManualClock):
            self._print(self._t(ConsoleTexts.real_clock))
            return None
        return clock

    async def _move_time(self, arg: str) -> None:
        clock = self._manual_clock()
        m = _TIME.match(arg)
        if clock is None:
            return
        if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            self._print(self._t(ConsoleTexts.time_usage))
            return
        tz = self.app.config.tz
        now = clock.now().astimezone(tz)
        target = datetime.combine(now.date(), time(int(m.group(1)), int(m.group(2))), tzinfo=tz)
        if target <= now:
            target += timedelta(days=1)
        await self._move_to(clock, target)

    async def _move_date(self, arg: str) -> None:
        clock = self._manual_clock()
        if clock is None:
            return
        tz = self.app.config.tz
        now = clock.now().astimezone(tz)
        day = parse_day(arg, now.date()) if arg else None
        if day is None:
            self._print(self._t(ConsoleTexts.date_usage))
            return
        await self._move_to(clock, datetime.combine(day, now.time(), tzinfo=tz))

    async def _move_to(self, clock: ManualClock, target: datetime) -> None:
        """Move the clock to `target`, stopping at every due time on the way, so each day's
        jobs run in order and at their own time, as they would have with the bot up."""
        now = clock.now()
        limit = self.app.config.console.max_jump_days
        if target - now > timedelta(days=limit):
            example = now.astimezone(target.tzinfo) + timedelta(days=limit)
            self._print(self._t(ConsoleTexts.too_far, limit=limit, example=f"{example:%Y-%m-%d}"))
            return
        scheduler = self.app.scheduler
        stops = scheduler.due_times(now, target) if scheduler is not None else []
        for at in [*(t for t in stops if t < target), target]:
            clock.set(at)
            self._print(f"🕐 {at.astimezone(target.tzinfo):%Y-%m-%d %H:%M}")
            if scheduler is not None:
                await scheduler.run_due()


def render_mention(m: Mention) -> str:
    return f"@{m.name}"
