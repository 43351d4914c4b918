"""Command routing: recognise, authorize, run in one unit of work, turn errors into replies.

Each handler module declares its commands on its own `CommandRouter`; `bot/app.py` includes
the modules explicitly into one `Dispatcher`. Authorization is decided here, from the bound
person's role and scope, never from what a message claims.
"""

from __future__ import annotations

import enum
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import Config
from bot.messages import (
    Address,
    ChatAddress,
    Envelope,
    IncomingMessage,
    OutgoingMessage,
    PersonAddress,
)
from storage import audit, identity, inbound, reports
from storage.db import unit_of_work, with_retry
from storage.errors import (
    ConsentRequired,
    DomainError,
    GroupOnly,
    NotAllowed,
    NotBound,
    PrivateOnly,
)
from storage.models import GroupChat, Role

if TYPE_CHECKING:
    from storage.identity import Actor

log = logging.getLogger(__name__)

ALL_ROLES = frozenset(Role)
STUDENTS = frozenset({Role.STUDENT, Role.MONITOR})
STAFF = frozenset(
    {Role.COUNSELOR, Role.HEAD_TEACHER, Role.COLLEGE_ADMIN, Role.SCHOOL_ADMIN},
)
DECIDERS = frozenset({Role.COUNSELOR, Role.COLLEGE_ADMIN})

# Longer messages are refused unread: no command needs more, and parsing them costs time.
MAX_MESSAGE_CHARS = 4000

# Spaces a phone keyboard may produce between arguments: full-width, no-break, ideographic.
_SPACES = re.compile(r"[\s\u3000\u00a0\u2000-\u200a\u202f\u205f]+")
# Control characters (tab and newline aside) and lone surrogates: PostgreSQL refuses NUL,
# Excel refuses the rest, and no one types them on purpose.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# Characters that render as nothing; dropped before matching a command word.
_INVISIBLE = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e")
)


class Where(enum.Enum):
    ANY = "any"
    GROUP = "group"
    PRIVATE = "private"


@dataclass(frozen=True)
class Args:
    """A command's arguments, split on half- and full-width spaces; tokens keep what was typed."""

    text: str
    tokens: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Args:
        text = text.strip()
        return cls(text, tuple(t for t in _SPACES.split(text) if t))

    def rest(self, start: int) -> str:
        """The raw text from token `start` on, spacing as typed (for reasons and notes)."""
        remaining = self.text
        for token in self.tokens[:start]:
            idx = remaining.find(token)
            remaining = remaining[idx + len(token) :]
        return remaining.strip(" \u3000\t\r\n")

    def __len__(self) -> int:
        return len(self.tokens)


def normalize(token: str) -> str:
    """Full-width digits and letters to ASCII, for matching numbers and keywords."""
    return unicodedata.normalize("NFKC", token).translate(_INVISIBLE).strip()


class _Unloaded:
    """Not looked up yet (None means looked up and not bound)."""


@dataclass
class Context:
    """What a handler gets: the message, the unit of work, the asker, and the outbox."""

    message: IncomingMessage
    session: Session
    config: Config
    clock: Clock
    actor: Actor | None
    dispatcher: Dispatcher
    command: Command
    outbox: list[Envelope] = field(default_factory=list)
    _group: GroupChat | _Unloaded | None = field(default=None, repr=False)

    @property
    def group(self) -> GroupChat | None:
        """The class group this message came from, if bound; looked up on first use, since
        most commands (a check-in above all) never ask."""
        if isinstance(self._group, _Unloaded):
            msg = self.message
            self._group = (
                identity.group_for_chat(self.session, msg.platform, msg.chat_id)
                if msg.is_group
                else None
            )
        return self._group

    @group.setter
    def group(self, value: GroupChat | None) -> None:
        self._group = value

    @property
    def lang(self) -> str:
        return self.config.bot.language

    @property
    def now(self) -> datetime:
        return self.clock.now()

    @property
    def sent_at(self) -> datetime:
        """When the message was sent: a late-delivered message keeps its own time."""
        return min(self.message.sent_at, self.clock.now())

    def t(self, zh: str, en: str, **params: object) -> str:
        return (en if self.lang == "en" else zh).format(**params)

    def require_actor(self) -> Actor:
        if self.actor is None:
            raise NotBound()
        return self.actor

    def reply(self, text: str | OutgoingMessage) -> None:
        message = text if isinstance(text, OutgoingMessage) else OutgoingMessage(text)
        self.outbox.append(Envelope(self.message.chat, message))

    def send(
        self, to: Address, message: str | OutgoingMessage, *, tags: Sequence[str] = ()
    ) -> None:
        message = message if isinstance(message, OutgoingMessage) else OutgoingMessage(message)
        self.outbox.append(Envelope(to, message, tags=tuple(tags)))

    def notify(self, person_ids: Iterable[int], message: str | OutgoingMessage) -> None:
        for pid in dict.fromkeys(person_ids):
            self.send(PersonAddress(pid), message)


Handler = Callable[[Context, Args], None]

# The demo school's class (SPEC §7), named in usage lines written before any roster exists.
DEMO_CLASS = "护理172"


@dataclass(frozen=True)
class Examples:
    """What usage examples name: a class of the deployment, and dates around today.

    Usage lines write `{class_code}`, `{tomorrow}` and `{day}` (a recent day); a line that
    names the demo class by its code shows the deployment's class instead.
    """

    class_code: str
    today: date

    def render(self, text: str) -> str:
        if "{" in text:
            tomorrow, day = self.today + timedelta(days=1), self.today - timedelta(days=1)
            text = text.format(
                class_code=self.class_code,
                tomorrow=f"{tomorrow.month}-{tomorrow.day}",
                day=f"{day.month}-{day.day}",
            )
        return text.replace(DEMO_CLASS, self.class_code)


DEMO_EXAMPLES = Examples(DEMO_CLASS, date(2026, 11, 23))


@dataclass(frozen=True)
class Command:
    """One command, declared once: its names, who may use it, where, and its help line."""

    name: str
    keyword: str
    func: Handler
    roles: frozenset[Role]
    where: Where
    usage_zh: str
    usage_en: str
    help_zh: str
    help_en: str
    aliases: tuple[str, ...] = ()
    # Commands an unbound account may use (binding itself, help).
    open_to_unbound: bool = False
    # Takes sensitive personal data (health, family finances): a student must have agreed
    # to the current privacy notice first (PIPL Art. 29).
    needs_consent: bool = False

    def usage(self, lang: str, examples: Examples | None = None) -> str:
        """The usage line; its examples name the deployment's own class and dates."""
        text = self.usage_en if lang == "en" else self.usage_zh
        return (examples or DEMO_EXAMPLES).render(text)

    def help(self, lang: str) -> str:
        return self.help_en if lang == "en" else self.help_zh

    def label(self, lang: str) -> str:
        return f"/{self.name}" if lang == "en" else self.keyword

    def allows(self, role: Role | None) -> bool:
        return self.open_to_unbound if role is None else role in self.roles


class CommandRouter:
    """The commands of one handler module."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.commands: list[Command] = []

    def command(
        self,
        name: str,
        keyword: str,
        *,
        roles: Iterable[Role],
        usage: tuple[str, str],
        help: tuple[str, str],
        where: Where = Where.ANY,
        aliases: Iterable[str] = (),
        open_to_unbound: bool = False,
        needs_consent: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(func: Handler) -> Handler:
            self.commands.append(
                Command(
                    name=name,
                    keyword=keyword,
                    func=func,
                    roles=frozenset(roles),
                    where=where,
                    usage_zh=usage[0],
                    usage_en=usage[1],
                    help_zh=help[0],
                    help_en=help[1],
                    aliases=tuple(aliases),
                    open_to_unbound=open_to_unbound,
                    needs_consent=needs_consent,
                )
            )
            return func

        return register


@dataclass(frozen=True)
class Routed:
    """The outcome of one message: what to send, and the command it ran (if any)."""

    envelopes: list[Envelope]
    command: Command | None = None
    duplicate: bool = False
    # Why the command did not run: a DomainError (refused, nothing stored) or an
    # unexpected exception (apologised for, rolled back).
    error: Exception | None = None


class Dispatcher:
    """Recognises commands in messages and runs each in one unit of work."""

    def __init__(self, config: Config, clock: Clock, sessions: sessionmaker[Session]) -> None:
        self.config = config
        self.clock = clock
        self.sessions = sessions
        self.commands: list[Command] = []
        self._by_word: dict[str, Command] = {}
        self._first_class: str | None = None

    def include(self, *routers: CommandRouter) -> None:
        for router in routers:
            for cmd in router.commands:
                words = [cmd.name.lower(), cmd.keyword, *cmd.aliases]
                for word in words:
                    if word in self._by_word:
                        raise ValueError(f"command word {word!r} declared twice")
                    self._by_word[word] = cmd
                self.commands.append(cmd)

    @property
    def lang(self) -> str:
        return self.config.bot.language

    # -- recognition -------------------------------------------------------------------

    def recognise(self, msg: IncomingMessage) -> tuple[Command | None, str, bool]:
        """(command, argument text, looks like a command) for a message's text."""
        text = msg.text.translate(_INVISIBLE).strip()
        if not text:
            return None, "", False
        if text[0] in "/／":
            head, _, rest = _split_first(text[1:])
            word = normalize(head).split("@", 1)[0].lower()
            cmd = self._by_word.get(word)
            return cmd, rest, True
        head, _, rest = _split_first(text)
        cmd = self._by_word.get(head) or self._by_word.get(normalize(head))
        if cmd is not None:
            return cmd, rest, True
        # A keyword glued to its first argument: 打卡36.5
        for word, cmd in self._by_word.items():
            if not word.isascii() and text.startswith(word):
                tail = text[len(word) :]
                if tail and normalize(tail[0]).isdigit():
                    return cmd, tail, True
        return None, "", msg.mentions_bot

    # -- processing ----------------------------------------------------------------------

    def process(self, msg: IncomingMessage) -> Routed:
        """Handle one message: returns what to send. Never raises for bad input."""
        if len(msg.text) > MAX_MESSAGE_CHARS:
            return self._too_long(msg)
        msg = clean(msg)
        cmd, arg_text, looks_like_command = self.recognise(msg)
        if cmd is None:
            if not looks_like_command:
                if not msg.is_group:
                    return Routed([self._say(msg, _unknown_text(self.lang))])
                return Routed([])
            return Routed([self._say(msg, _unknown_text(self.lang))])
        try:
            return with_retry(lambda: self._run(msg, cmd, Args.parse(arg_text)))
        except DomainError as e:
            if e.refusal:
                self._audit_refusal(msg, cmd, e)
            return Routed([self._say(msg, self._error_text(e, cmd))], cmd, error=e)
        except Exception as e:
            log.exception(
                "command %s failed on %s message %s", cmd.name, msg.platform, msg.message_id
            )
            return Routed([self._say(msg, _apology(self.lang))], cmd, error=e)

    def _too_long(self, msg: IncomingMessage) -> Routed:
        """A refusal for an over-long message, read no further than its first words."""
        head = msg.text[:64]
        _, _, looks_like_command = self.recognise(replace(msg, text=head))
        if msg.is_group and not looks_like_command:
            return Routed([])
        text = (
            f"This message is too long (over {MAX_MESSAGE_CHARS} characters); nothing was read or saved."
            if self.lang == "en"
            else f"消息太长（超过 {MAX_MESSAGE_CHARS} 字），没有处理，也没有保存。"
        )
        return Routed([self._say(msg, text)])

    def _run(self, msg: IncomingMessage, cmd: Command, args: Args) -> Routed:
        with unit_of_work(self.sessions) as session:
            if msg.message_id is not None and not inbound.claim(
                session, msg.platform, f"msg:{msg.chat_id}:{msg.message_id}", self.clock.now()
            ):
                return Routed([], cmd, duplicate=True)
            actor = identity.actor_for_account(session, msg.platform, msg.sender_id)
            self.authorize(cmd, actor, msg)
            ctx = Context(
                msg, session, self.config, self.clock, actor, self, cmd, _group=_Unloaded()
            )
            cmd.func(ctx, args)
            return Routed(ctx.outbox, cmd)

    def authorize(self, cmd: Command, actor: Actor | None, msg: IncomingMessage) -> None:
        """The one place that decides whether this asker may run this command here."""
        if cmd.where is Where.PRIVATE and msg.is_group:
            raise PrivateOnly()
        if cmd.where is Where.GROUP and not msg.is_group:
            raise GroupOnly()
        if actor is None:
            if not cmd.open_to_unbound:
                raise NotBound()
            return
        if actor.role not in cmd.roles:
            raise NotAllowed(command=cmd.keyword, command_en=cmd.name)
        if (
            cmd.needs_consent
            and actor.role.is_student
            and (actor.consent_version or 0) < self.config.privacy.notice_version
        ):
            raise ConsentRequired()

    def visible_commands(self, role: Role | None) -> list[Command]:
        return [c for c in self.commands if c.allows(role)]

    def examples(self, session: Session | None = None, actor: Actor | None = None) -> Examples:
        """Usage examples for this asker: their own class, else the roster's first one."""
        today = self.clock.now().astimezone(self.config.tz).date()
        code = None
        if session is not None and actor is not None:
            ids = actor.class_ids or ({actor.class_id} if actor.class_id else set())
            code = reports.first_class_code(session, ids) if ids else None
        if code is None:
            code = self._first_class
            if code is None:
                with unit_of_work(self.sessions, readonly=True) as s:
                    code = self._first_class = reports.first_class_code(s, None)
        return Examples(code or DEMO_CLASS, today)

    def usage_text(self, cmd: Command, examples: Examples | None = None) -> str:
        prefix = "Usage: " if self.lang == "en" else "格式："
        return prefix + cmd.usage(self.lang, examples or self.examples())

    # -- replies -------------------------------------------------------------------------

    def _error_text(self, error: DomainError, cmd: Command) -> str:
        text = error.render(self.lang)
        if error.show_usage:
            text = f"{text}\n{self.usage_text(cmd)}"
        return text

    def _say(self, msg: IncomingMessage, text: str) -> Envelope:
        return Envelope(msg.chat, OutgoingMessage(text))

    def _audit_refusal(self, msg: IncomingMessage, cmd: Command, error: DomainError) -> None:
        try:
            with unit_of_work(self.sessions) as session:
                actor = identity.actor_for_account(session, msg.platform, msg.sender_id)
                audit.record(
                    session,
                    at=self.clock.now(),
                    actor=actor,
                    action="refused",
                    target=cmd.name,
                    detail={"reason": type(error).__name__, "platform": msg.platform},
                )
        except Exception:
            log.exception("could not audit a refused command")


def clean(msg: IncomingMessage) -> IncomingMessage:
    """The message without characters that cannot be stored or exported."""
    if not any(_UNSTORABLE.search(v) for v in (msg.text, msg.sender_name, msg.chat_title)):
        return msg
    return replace(
        msg,
        text=_UNSTORABLE.sub("", msg.text),
        sender_name=_UNSTORABLE.sub("", msg.sender_name),
        chat_title=_UNSTORABLE.sub("", msg.chat_title),
    )


def _split_first(text: str) -> tuple[str, str, str]:
    parts = _SPACES.split(text.strip(), maxsplit=1)
    head = parts[0] if parts else ""
    rest = parts[1] if len(parts) > 1 else ""
    return head, " ", rest


def _unknown_text(lang: str) -> str:
    if lang == "en":
        return "I did not understand that. Send /help to see what you can do."
    return "没看懂这条消息。发送「帮助」查看可用的命令。"


def _apology(lang: str) -> str:
    if lang == "en":
        return "Sorry, something went wrong on my side and nothing was saved. Please try again."
    return "抱歉，处理时出错了，这次没有保存任何内容，请稍后再试。"


def chat_of(envelope: Envelope) -> ChatAddress | None:
    return envelope.to if isinstance(envelope.to, ChatAddress) else None
