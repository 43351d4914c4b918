"""Command routing: recognise, authorize, run in one unit of work, turn errors into replies.

Each handler module declares its commands on its own `CommandRouter`; `bot/app.py` includes
the modules explicitly into one `Dispatcher`. Authorization is decided here, from the bound
person's role and scope, never from what a message claims.

A handler may ask a question (`ctx.ask`): the next message from the same account in the same
chat goes to the answer handler its router declared (`@router.answer(key)`), unless it is a
command (which runs, and ends the conversation) or 取消 (which ends it). The question waits
in the database, for `[bot] prompt_timeout_minutes`.
"""

from __future__ import annotations

import enum
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import Config
from bot.messages import (
    Address,
    ChatAddress,
    Envelope,
    GroupAck,
    IncomingMessage,
    OutgoingMessage,
    PersonAddress,
)
from bot.outbox import Outbox, Said
from bot.texts import Catalogue, Text
from storage import audit, identity, inbound, prompts, reports
from storage.campaigns import KINDS, Campaigns
from storage.db import is_transient, unit_of_work, with_retry
from storage.demo import CLASSES as DEMO_CLASSES
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
    from schedules.runner import Job
    from storage.campaigns import CampaignKind
    from storage.identity import Actor
    from storage.requests import RequestKind

log = logging.getLogger(__name__)

# The asker of a message from an account that is not bound.
_NO_ASKER = identity.Asker(None)

T = TypeVar("T")

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
# Punctuation between a keyword and its first argument: 打卡：36.5, 打卡,36.5 (after NFKC).
_GLUE = " :,;、.。"
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
    # Whether this handler asked a question (`ask`), which the next message answers.
    asked: bool = False

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

    def render(self, text: Text, **params: object) -> str:
        """A catalogue text (`bot.texts`) in the deployment's language."""
        return text(self.lang, **params)

    def require_actor(self) -> Actor:
        if self.actor is None:
            raise NotBound()
        return self.actor

    def reply(self, text: str | OutgoingMessage) -> None:
        message = text if isinstance(text, OutgoingMessage) else OutgoingMessage(text)
        self.outbox.append(Envelope(self.message.chat, message))

    def ask(
        self,
        text: str | OutgoingMessage,
        expect: str,
        state: dict[str, Any] | None = None,
        timeout: timedelta | None = None,
    ) -> None:
        """Reply with a question whose answer, the asker's next message in this chat, goes to
        the answer handler declared as `expect` with `state` (JSON). Asking again, here or in
        the answer handler, replaces the question; an answer handler that returns without
        asking ends the conversation."""
        if expect not in self.dispatcher.answers:
            raise ValueError(f"no answer handler {expect!r} is installed")
        msg, actor = self.message, self.actor
        now = self.clock.now()
        prompts.put(
            self.session,
            msg.platform,
            msg.chat_id,
            msg.sender_id,
            person_id=actor.person_id if actor is not None else None,
            role=actor.role.value if actor is not None else None,
            command=self.command.name,
            expect=expect,
            state=state or {},
            now=now,
            expires_at=now + (timeout or timedelta(minutes=self.config.bot.prompt_timeout_minutes)),
        )
        self.asked = True
        self.reply(text)

    def send(
        self, to: Address, message: str | OutgoingMessage, *, tags: Sequence[str] = ()
    ) -> None:
        message = message if isinstance(message, OutgoingMessage) else OutgoingMessage(message)
        self.outbox.append(Envelope(to, message, tags=tuple(tags)))

    def notify(
        self,
        person_ids: Iterable[int],
        message: str | OutgoingMessage,
        *,
        tags: Sequence[str] = (),
    ) -> None:
        """`tags=("health",)`: an abnormal-health alert, taken one level up if it reaches
        none of a person's accounts."""
        for pid in dict.fromkeys(person_ids):
            self.send(PersonAddress(pid), message, tags=tags)

    def acknowledge(
        self,
        text: str,
        *,
        key: str,
        verb: str,
        name: str,
        done: int | None = None,
        of: int | None = None,
        mark: str = "",
    ) -> None:
        """Reply with a per-person acknowledgement. In a group, those of one `key` are merged
        into one message (`✓ 已打卡 +6：张晓明、王雨桐…（32/40）`); `text` is what a single
        one says. Names and counts only: never what the person sent."""
        if not self.message.is_group:
            self.reply(text)
            return
        ack = GroupAck(key, verb, name, done, of, mark)
        self.outbox.append(Envelope(self.message.chat, OutgoingMessage(text), ack=ack))


Handler = Callable[[Context, Args], None]
# An answer to a question a handler asked: (ctx, the text of the answer, the question's state).
AnswerHandler = Callable[[Context, str, dict[str, Any]], None]

P = TypeVar("P")


@dataclass(frozen=True)
class BatchForm(Generic[P]):
    """A command that runs many messages at once, as if one after another.

    `prepare(ctx, args)` checks and reads one message and stores nothing: a `DomainError`
    refuses that message alone. `run(items)` does, for all the prepared messages of a
    batch in order, what each would do alone, in the one savepoint of the batch; each
    item's `ctx` collects what that message says. The router gives `run` one message per
    sender, each claimed once, and queues what they say with one write.
    """

    prepare: Callable[[Context, Args], P]
    run: Callable[[Sequence[tuple[Context, P]]], None]

    def one(self, ctx: Context, args: Args) -> None:
        self.run([(ctx, self.prepare(ctx, args))])


# An answer handler's key: the feature's prefix, a dot, a name (decisions.reason).
_ANSWER_KEY = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
# What ends a conversation, as the whole message.
CANCEL_WORDS = frozenset({"取消", "/cancel"})

# The demo school's class (SPEC §7), named in usage lines written before any roster exists.
DEMO_CLASS = DEMO_CLASSES[0]


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
    # A word that is also everyday chat (同意, 收到…): in a group it is the command only
    # as the whole message, or followed by arguments that fully match this pattern; any
    # other message starting with it is chat and is ignored. None: an ordinary command.
    also_chat: re.Pattern[str] | None = None
    # How many messages of this command are run at once in a batch (see `BatchForm`).
    batch: BatchForm[Any] | None = None

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

    def is_chat(self, arg_text: str) -> bool:
        """In a group: whether this message is chat that merely starts with the word."""
        if self.also_chat is None:
            return False
        return self.also_chat.fullmatch(normalize(arg_text)) is None


# What a router may answer for a private message that is no command: (config, text) → a
# reply, or None to leave it to the next one (and finally to "not understood").
Fallback = Callable[[Config, str], str | None]


class CommandRouter:
    """The commands of one handler module."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.commands: list[Command] = []
        self.fallbacks: list[Fallback] = []
        self.answers: dict[str, AnswerHandler] = {}

    def answer(self, key: str) -> Callable[[AnswerHandler], AnswerHandler]:
        """Declare the handler of the answers to questions asked with `ctx.ask(…, expect=key)`."""
        if _ANSWER_KEY.fullmatch(key) is None:
            raise ValueError(f"answer key {key!r} is not <feature>.<name>")

        def register(func: AnswerHandler) -> AnswerHandler:
            if key in self.answers:
                raise ValueError(f"answer key {key!r} declared twice")
            self.answers[key] = func
            return func

        return register

    def fallback(self, func: Fallback) -> Fallback:
        """Declare an answer for private messages that are no command (see `Fallback`)."""
        self.fallbacks.append(func)
        return func

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
        also_chat: str | None = None,
        batch: BatchForm[Any] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Declare a command. With `batch`, its handler is `batch.one`: one message is a batch
        of one, so the message alone and the message in a batch run the same code."""

        def register(func: Handler) -> Handler:
            if batch is not None and func != batch.one:
                raise ValueError(f"command {name!r}: a batch form's handler is its `one`")
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
                    also_chat=re.compile(also_chat) if also_chat is not None else None,
                    batch=batch,
                )
            )
            return func

        return register


# A feature's lines in /mine: (ctx, the asker's person id, today) → lines.
MineSection = Callable[[Context, int, date], list[str]]


@dataclass(frozen=True)
class WorkflowHandlers:
    """What the shared 批准 / 驳回 / 撤销 commands do for one request kind: the kind's feature
    parses its own extra arguments and says what a decision means to whom."""

    kind: RequestKind[Any]
    # (ctx, number, args): 批准 L37 …
    approve: Callable[[Context, int, Args], None]
    # (ctx, number, args, reason): 驳回 L37 <reason>
    reject: Callable[[Context, int, Args, str], None]
    # (ctx, number): 撤销 L37
    cancel: Callable[[Context, int], None]


# A feature's retention rule: (session, now) → how many records it deleted.
RetentionRule = Callable[[Session, datetime], int]


@dataclass(frozen=True)
class Feature:
    """One feature as bot/app.py wires it: its commands, its /mine section, the decisions on
    its request kind, its scheduled jobs, the campaign kinds it runs (each with its ledger
    sheet) and its retention rule."""

    router: CommandRouter
    mine: MineSection | None = None
    workflow: WorkflowHandlers | None = None
    jobs: tuple[Job, ...] = ()
    campaigns: tuple[CampaignKind, ...] = ()
    retention: RetentionRule | None = None


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

    def __init__(
        self,
        config: Config,
        clock: Clock,
        sessions: sessionmaker[Session],
        outbox: Outbox | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.sessions = sessions
        self.outbox = outbox or Outbox(config, lambda: ())
        self.commands: list[Command] = []
        self.fallbacks: list[Fallback] = []
        self._by_word: dict[str, Command] = {}
        self._by_name: dict[str, Command] = {}
        self.answers: dict[str, AnswerHandler] = {}
        # Chinese keywords, longest first: the longest word a message starts with wins.
        self._glued: list[tuple[str, Command]] = []
        self._first_class: str | None = None
        self.mine_sections: list[MineSection] = []
        self.features: list[Feature] = []
        # Request kind name → what 批准 / 驳回 / 撤销 do for it.
        self.workflows: dict[str, WorkflowHandlers] = {}

    @property
    def campaign_kinds(self) -> Campaigns:
        """The built-in campaign kinds and those the installed features run."""
        kinds = KINDS
        for feature in self.features:
            for kind in feature.campaigns:
                if kinds.get(kind.name) is None:
                    kinds = kinds.register(kind)
        return kinds

    def install(self, *features: Feature) -> None:
        """Include each feature's commands, /mine section and workflow, in this order."""
        for feature in features:
            self.features.append(feature)
            self.include(feature.router)
            if feature.mine is not None:
                self.mine_sections.append(feature.mine)
            if feature.workflow is not None:
                name = feature.workflow.kind.name
                if name in self.workflows:
                    raise ValueError(f"request kind {name!r} wired twice")
                self.workflows[name] = feature.workflow

    def include(self, *routers: CommandRouter) -> None:
        for router in routers:
            self.fallbacks.extend(router.fallbacks)
            for key, func in router.answers.items():
                if key in self.answers:
                    raise ValueError(f"answer key {key!r} declared twice")
                self.answers[key] = func
            for cmd in router.commands:
                words = [cmd.name.lower(), cmd.keyword, *cmd.aliases]
                for word in words:
                    if word in self._by_word:
                        raise ValueError(f"command word {word!r} declared twice")
                    self._by_word[word] = cmd
                self._by_name[cmd.name] = cmd
                self.commands.append(cmd)
        self._glued = sorted(
            ((w, c) for w, c in self._by_word.items() if not w.isascii()),
            key=lambda item: -len(item[0]),
        )

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
            if msg.is_group and cmd.is_chat(rest):
                return None, "", msg.mentions_bot
            return cmd, rest, True
        # A keyword glued to what follows: 打卡36.5, 打卡：36.5, 打卡,36.5. It is an attempt
        # at the command when a number follows anywhere; 打卡了吗大家 is chat.
        for word, cmd in self._glued:
            if text.startswith(word):
                tail = normalize(text[len(word) :])
                if any(ch.isdigit() for ch in tail):
                    rest = tail.lstrip(_GLUE)
                    if msg.is_group and cmd.is_chat(rest):
                        break
                    return cmd, rest, True
                break
        return None, "", msg.mentions_bot

    # -- processing ----------------------------------------------------------------------

    def process(self, msg: IncomingMessage) -> Routed:
        """Handle one message; what it says is queued in the outbox. Never raises for bad input."""
        return self._process(msg, None)

    def process_batch(self, messages: Sequence[IncomingMessage]) -> list[Routed]:
        """Handle messages that queued up (a burst, a backlog in the inbox) with one commit.

        Each message runs in a savepoint of one transaction, so each stays all-or-nothing:
        a message that is refused or fails is rolled back alone and answered as `process`
        would answer it, and its neighbours are kept. Consecutive messages of a command with
        a batch form (a class checking in) run set-based: one savepoint and a few statements
        for all of them (`_run_many`). A lock conflict retries the whole batch; should the
        batch itself fail, each message is handled on its own.
        """
        if len(messages) < 2:
            return [self.process(m) for m in messages]

        def work() -> list[Routed]:
            with unit_of_work(self.sessions) as session:
                out: list[Routed] = []
                while len(out) < len(messages):
                    run = self._batch_run(messages, len(out))
                    if len(run) > 1:
                        out.extend(self._run_many(run, session))
                    else:
                        out.append(self._process(messages[len(out)], session))
                return out

        try:
            return with_retry(work)
        except Exception:
            log.exception("a batch of %d messages failed; handling each alone", len(messages))
            return [self.process(m) for m in messages]

    def _batch_run(self, messages: Sequence[IncomingMessage], start: int) -> list[_Batched]:
        """The messages from `start` on that can run as one set: the same command with a
        batch form, each from a different sender (a sender's messages keep their order),
        none a button press, a 取消 or too long to read."""
        run: list[_Batched] = []
        senders: set[tuple[str, str]] = set()
        for msg in messages[start:]:
            if (
                len(msg.text) > MAX_MESSAGE_CHARS
                or msg.message_id is None
                or msg.edit_target is not None
                or msg.callback_id is not None
                or (msg.platform, msg.sender_id) in senders
            ):
                break
            cleaned = clean(msg)
            cmd, arg_text, _ = self.recognise(cleaned)
            if (
                cmd is None
                or cmd.batch is None
                or is_cancel(cleaned.text)
                or (run and cmd is not run[0].command)
            ):
                break
            run.append(_Batched(msg, cleaned, cmd, arg_text))
            senders.add((msg.platform, msg.sender_id))
        return run

    def _run_many(self, run: Sequence[_Batched], batch: Session) -> list[Routed]:
        """Messages of one batch-form command, in one savepoint of `batch`: one read of the
        askers, one claim, the command over all of them, one write of what they say. A
        message refused (unbound, not allowed, malformed) is handled alone afterwards, as
        `process` would; should the set fail, each of its messages is handled alone."""
        cmd = run[0].command
        form = cmd.batch
        assert form is not None
        now = self.clock.now()
        out: dict[int, Routed] = {}
        alone: list[int] = []
        try:
            with _savepoint(batch) as session:
                askers = identity.askers_for_accounts(
                    session, [(b.msg.platform, b.msg.sender_id) for b in run]
                )
                ready: list[tuple[int, Context, Any, identity.Asker]] = []
                for i, b in enumerate(run):
                    asker = askers.get((b.msg.platform, b.msg.sender_id), _NO_ASKER)
                    ctx = self._context(b.msg, session, asker.actor, cmd)
                    try:
                        self.authorize(cmd, asker.actor, b.msg)
                        ready.append((i, ctx, form.prepare(ctx, Args.parse(b.arg_text)), asker))
                    except DomainError:
                        alone.append(i)
                inbox = [c.message.inbox_id for _, c, _, _ in ready]
                inbound.mark_processed_many(session, [i for i in inbox if i is not None], now)
                claimed = inbound.claim_many(
                    session,
                    [(ctx.message.platform, _message_key(ctx.message)) for _, ctx, _, _ in ready],
                    now,
                )
                fresh = []
                for i, ctx, prepared, asker in ready:
                    msg = ctx.message
                    if (msg.platform, _message_key(msg)) not in claimed:
                        out[i] = Routed([], cmd, duplicate=True)
                        continue
                    fresh.append((i, ctx, prepared))
                    # As `_claim`, for the few accounts marked unreachable (read with the
                    # askers, so the rest need no statement).
                    if asker.unreachable and not msg.is_group:
                        identity.mark_reachable(session, msg.platform, msg.sender_id)
                    elif asker.unreachable and not asker.nudged:
                        self.outbox.nudge(session, msg.platform, msg.sender_id, msg.chat_id, now)
                prompts.drop_many(session, [_account(c.message) for _, c, _ in fresh])
                if fresh:
                    form.run([(ctx, prepared) for _, ctx, prepared in fresh])
                said = []
                for i, ctx, _ in fresh:
                    envelopes = _on_pressed(ctx.message, ctx.outbox, asked=ctx.asked)
                    out[i] = Routed(envelopes, cmd)
                    said.append(self._said(ctx.message, envelopes, ctx.actor))
                self.outbox.queue_many(session, said, now=now)
        except Exception as e:
            if is_transient(e):
                raise
            log.exception("%d %s messages failed as one; handling each alone", len(run), cmd.name)
            return [self._process(b.original, batch) for b in run]
        for i in alone:
            out[i] = self._process(run[i].original, batch)
        return [out[i] for i in range(len(run))]

    def _process(self, msg: IncomingMessage, batch: Session | None) -> Routed:
        """One message, in its own unit of work, or in a savepoint of `batch`'s."""
        if len(msg.text) > MAX_MESSAGE_CHARS:
            return self._too_long(msg, batch)
        msg = clean(msg)
        cmd, arg_text, looks_like_command = self.recognise(msg)
        if cmd is not None and not is_cancel(msg.text):
            return self._command(msg, cmd, arg_text, batch)
        answered = self._answer(msg, batch)
        if answered is not None:
            return answered
        if cmd is not None:
            return self._command(msg, cmd, arg_text, batch)
        if not looks_like_command and msg.is_group:
            return self._chat(msg, batch)
        text = _unknown_text(self.lang) if looks_like_command else self._fallback_text(msg)
        return self._say(msg, [self._text(msg, text)], batch=batch)

    def _command(
        self, msg: IncomingMessage, cmd: Command, arg_text: str, batch: Session | None
    ) -> Routed:
        """Run a recognised command; a question pending for the sender ends either way."""
        try:
            return self._retry(batch, lambda: self._run(msg, cmd, Args.parse(arg_text), batch))
        except DomainError as e:
            said = [self._text(msg, self._error_text(e, cmd))]
            return self._say(
                msg,
                said,
                cmd,
                error=e,
                refused=e if e.refusal else None,
                drop_prompt=True,
                batch=batch,
            )
        except Exception as e:
            if batch is not None and is_transient(e):
                raise
            log.exception(
                "command %s failed on %s message %s", cmd.name, msg.platform, msg.message_id
            )
            return self._say(
                msg,
                [self._text(msg, _apology(self.lang))],
                cmd,
                error=e,
                drop_prompt=True,
                batch=batch,
            )

    def _answer(self, msg: IncomingMessage, batch: Session | None = None) -> Routed | None:
        """The message as the answer to a question its sender was asked in this chat (or 取消,
        or too late for it); None when no question is pending, to route it as usual."""
        try:
            return self._retry(batch, lambda: self._converse(msg, batch))
        except _Unauthorized as u:
            said = [self._text(msg, self._error_text(u.error, u.command))]
            refused = u.error if u.error.refusal else None
            return self._say(
                msg,
                said,
                u.command,
                error=u.error,
                refused=refused,
                drop_prompt=True,
                batch=batch,
            )
        except _AnswerRefused as r:
            text = PromptTexts.again(self.lang, error=r.error.render(self.lang))
            return self._say(msg, [self._text(msg, text)], r.command, error=r.error, batch=batch)
        except Exception as e:
            if batch is not None and is_transient(e):
                raise
            log.exception("an answer failed on %s message %s", msg.platform, msg.message_id)
            return self._say(msg, [self._text(msg, _apology(self.lang))], error=e, batch=batch)

    def _converse(self, msg: IncomingMessage, batch: Session | None = None) -> Routed | None:
        """One answer, its inbound claim and everything it says: one unit of work."""
        with self._unit(batch) as session:
            prompt = prompts.find(session, msg.platform, msg.chat_id, msg.sender_id)
            if prompt is None:
                return None
            cmd = self._by_name.get(prompt.command)
            handler = self.answers.get(prompt.expect)
            if cmd is None or handler is None:
                # Asked by a feature no longer installed: forget it, route the message as usual.
                log.warning("dropping a question for %r, which nothing answers", prompt.expect)
                session.delete(prompt)
                return None
            if not self._claim(session, msg):
                return Routed([], cmd, duplicate=True)
            actor = identity.actor_for_account(session, msg.platform, msg.sender_id)
            ctx = self._context(msg, session, actor, cmd)
            if prompt.expires_at <= self.clock.now():
                session.delete(prompt)
                ctx.reply(PromptTexts.timed_out(self.lang, command=cmd.label(self.lang)))
            elif is_cancel(msg.text):
                session.delete(prompt)
                ctx.reply(PromptTexts.cancelled(self.lang))
            elif (actor.person_id if actor else None) != prompt.person_id or (
                actor.role.value if actor else None
            ) != prompt.role:
                session.delete(prompt)
                ctx.reply(PromptTexts.void(self.lang))
            else:
                try:
                    self.authorize(cmd, actor, msg)
                except DomainError as e:
                    raise _Unauthorized(e, cmd) from e
                try:
                    handler(ctx, msg.text.translate(_INVISIBLE).strip(), dict(prompt.state))
                except DomainError as e:
                    raise _AnswerRefused(e, cmd) from e
                if not ctx.asked:
                    session.delete(prompt)
            envelopes = _on_pressed(msg, ctx.outbox, asked=ctx.asked)
            self._queue(session, msg, envelopes, actor)
            return Routed(envelopes, cmd)

    def _context(
        self, msg: IncomingMessage, session: Session, actor: Actor | None, cmd: Command
    ) -> Context:
        """A handler's context for one message; its group is looked up on first use."""
        return Context(msg, session, self.config, self.clock, actor, self, cmd, _group=_Unloaded())

    def _unit(self, batch: Session | None) -> AbstractContextManager[Session]:
        """A message's unit of work: its own transaction, or a savepoint in the batch's."""
        return unit_of_work(self.sessions) if batch is None else _savepoint(batch)

    @staticmethod
    def _retry(batch: Session | None, work: Callable[[], T]) -> T:
        # In a batch, a lock conflict retries the whole batch, not one savepoint.
        return with_retry(work) if batch is None else work()

    def _too_long(self, msg: IncomingMessage, batch: Session | None = None) -> Routed:
        """A refusal for an over-long message, read no further than its first words."""
        head = msg.text[:64]
        _, _, looks_like_command = self.recognise(replace(msg, text=head))
        if msg.is_group and not looks_like_command:
            return Routed([])
        text = RouterTexts.too_long(self.lang, limit=MAX_MESSAGE_CHARS)
        return self._say(replace(msg, text=head), [self._text(msg, text)], batch=batch)

    def _run(
        self, msg: IncomingMessage, cmd: Command, args: Args, batch: Session | None = None
    ) -> Routed:
        """The command, its inbound claim and everything it says: one unit of work."""
        with self._unit(batch) as session:
            if not self._claim(session, msg):
                return Routed([], cmd, duplicate=True)
            actor = identity.actor_for_account(session, msg.platform, msg.sender_id)
            self.authorize(cmd, actor, msg)
            # A command sent while a question is pending runs, and ends the conversation.
            prompts.drop(session, msg.platform, msg.chat_id, msg.sender_id)
            ctx = self._context(msg, session, actor, cmd)
            cmd.func(ctx, args)
            envelopes = _on_pressed(msg, ctx.outbox, asked=ctx.asked)
            self._queue(session, msg, envelopes, actor)
            return Routed(envelopes, cmd)

    def _say(
        self,
        msg: IncomingMessage,
        envelopes: list[Envelope],
        cmd: Command | None = None,
        *,
        error: Exception | None = None,
        refused: DomainError | None = None,
        drop_prompt: bool = False,
        batch: Session | None = None,
    ) -> Routed:
        """Queue a reply to a message that changed nothing (not understood, refused, failed),
        in its own small transaction with the message's inbound claim, so a redelivery of the
        message cannot say it twice."""
        envelopes = _on_pressed(msg, envelopes)

        def work() -> bool:
            with self._unit(batch) as session:
                if not self._claim(session, msg):
                    return False
                if drop_prompt:
                    prompts.drop(session, msg.platform, msg.chat_id, msg.sender_id)
                actor = identity.actor_for_account(session, msg.platform, msg.sender_id)
                if refused is not None and cmd is not None:
                    audit.record(
                        session,
                        at=self.clock.now(),
                        actor=actor,
                        action="refused",
                        target=cmd.name,
                        detail={"reason": type(refused).__name__, "platform": msg.platform},
                    )
                self._queue(session, msg, envelopes, actor)
                return True

        try:
            queued = self._retry(batch, work)
        except Exception as e:
            if batch is not None and is_transient(e):
                raise
            log.exception(
                "could not queue the reply to %s message %s", msg.platform, msg.message_id
            )
            return Routed([], cmd, error=error)
        if not queued:
            return Routed([], cmd, duplicate=True, error=error)
        return Routed(envelopes, cmd, error=error)

    def _chat(self, msg: IncomingMessage, batch: Session | None = None) -> Routed:
        """Group chat that is no command: nothing to do, but an unreachable account is still
        asked to open a private chat, and a stored update is marked done."""
        if msg.inbox_id is None:
            return Routed([])

        def work() -> None:
            with self._unit(batch) as session:
                inbound.mark_processed(session, msg.inbox_id or 0, self.clock.now())
                self.outbox.nudge(
                    session, msg.platform, msg.sender_id, msg.chat_id, self.clock.now()
                )

        try:
            self._retry(batch, work)
        except Exception as e:
            if batch is not None and is_transient(e):
                raise
            log.exception("could not record %s message %s", msg.platform, msg.message_id)
        return Routed([])

    def _claim(self, session: Session, msg: IncomingMessage) -> bool:
        """Record the message as handled (False: it already was). A private message makes its
        account reachable again; in a group, an account marked unreachable is asked once to
        open a private chat. All in the unit of work that handles the message."""
        now = self.clock.now()
        if msg.inbox_id is not None:
            inbound.mark_processed(session, msg.inbox_id, now)
        if msg.message_id is not None and not inbound.claim(
            session, msg.platform, _message_key(msg), now
        ):
            return False
        if not msg.is_group:
            identity.mark_reachable(session, msg.platform, msg.sender_id)
        else:
            self.outbox.nudge(session, msg.platform, msg.sender_id, msg.chat_id, now)
        return True

    def _queue(
        self,
        session: Session,
        msg: IncomingMessage,
        envelopes: list[Envelope],
        actor: Actor | None,
    ) -> None:
        self.outbox.queue_many(session, [self._said(msg, envelopes, actor)], now=self.clock.now())

    @staticmethod
    def _said(msg: IncomingMessage, envelopes: list[Envelope], actor: Actor | None) -> Said:
        """What a message says, queued under the message as its cause."""
        return Said(
            envelopes,
            cause=f"{msg.platform}:{_message_key(msg)}",
            asker=msg.chat,
            asker_person=actor.person_id if actor is not None else None,
        )

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
        return RouterTexts.usage(self.lang, usage=cmd.usage(self.lang, examples or self.examples()))

    # -- replies -------------------------------------------------------------------------

    def _error_text(self, error: DomainError, cmd: Command) -> str:
        text = error.render(self.lang)
        if error.show_usage:
            text = f"{text}\n{self.usage_text(cmd)}"
        return text

    def _fallback_text(self, msg: IncomingMessage) -> str:
        for fallback in self.fallbacks:
            text = fallback(self.config, msg.text)
            if text is not None:
                return text
        return _unknown_text(self.lang)

    def _text(self, msg: IncomingMessage, text: str) -> Envelope:
        return Envelope(msg.chat, OutgoingMessage(text))


@dataclass(frozen=True)
class _Batched:
    """A message of a set-based run: as received, cleaned, and its command."""

    original: IncomingMessage
    msg: IncomingMessage
    command: Command
    arg_text: str


class _Unauthorized(Exception):
    """The answerer may no longer run the command that asked: the question is dropped."""

    def __init__(self, error: DomainError, command: Command) -> None:
        super().__init__(repr(error))
        self.error = error
        self.command = command


class _AnswerRefused(Exception):
    """The answer handler refused the answer: nothing is stored, the question still waits."""

    def __init__(self, error: DomainError, command: Command) -> None:
        super().__init__(repr(error))
        self.error = error
        self.command = command


def is_cancel(text: str) -> bool:
    """Whether the whole message is 取消 or /cancel, which ends a pending question."""
    word = normalize(text).lower().split("@", 1)[0]
    return word in CANCEL_WORDS


@contextmanager
def _savepoint(session: Session) -> Iterator[Session]:
    """One message of a batch: kept on a clean exit, rolled back alone on any error."""
    nested = session.begin_nested()
    try:
        yield session
    except BaseException:
        if nested.is_active:
            nested.rollback()
        raise
    nested.commit()


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


class RouterTexts(Catalogue):
    usage = Text("格式：{usage}", "Usage: {usage}")
    too_long = Text(
        "消息太长（超过 {limit} 字），没有处理，也没有保存。",
        "This message is too long (over {limit} characters); nothing was read or saved.",
    )
    unknown = Text(
        "没看懂这条消息。发送「帮助」查看可用的命令。",
        "I did not understand that. Send /help to see what you can do.",
    )
    apology = Text(
        "抱歉，处理时出错了，这次没有保存任何内容，请稍后再试。",
        "Sorry, something went wrong on my side and nothing was saved. Please try again.",
    )


class PromptTexts(Catalogue):
    cancelled = Text(
        "已取消，刚才的问题不用再回答了。",
        "Cancelled: no need to answer that question any more.",
    )
    timed_out = Text(
        "刚才的问题已超时，没有保存任何内容。要重新开始，请再发送「{command}」。",
        "That question timed out and nothing was saved. To start again, send {command} again.",
    )
    void = Text(
        "刚才的问题已失效（你的账号身份有变化），没有保存任何内容。",
        "That question no longer applies (your account changed); nothing was saved.",
    )
    again = Text(
        "{error}\n请重新回答，或发送「取消」放弃。",
        "{error}\nPlease answer again, or send /cancel to stop.",
    )


def _unknown_text(lang: str) -> str:
    return RouterTexts.unknown(lang)


def _apology(lang: str) -> str:
    return RouterTexts.apology(lang)


def _account(msg: IncomingMessage) -> tuple[str, str, str]:
    """The (platform, chat, sender) a question waits for."""
    return msg.platform, msg.chat_id, msg.sender_id


def _message_key(msg: IncomingMessage) -> str:
    return f"msg:{msg.chat_id}:{msg.message_id}"


def _on_pressed(
    msg: IncomingMessage, envelopes: list[Envelope], *, asked: bool = False
) -> list[Envelope]:
    """For a button press, the first reply is shown on the pressed message; a question is
    a message of its own, so the pressed message keeps its buttons."""
    if msg.edit_target is None or asked:
        return envelopes
    out = list(envelopes)
    for i, env in enumerate(out):
        if env.to == msg.chat and env.ack is None:
            out[i] = replace(env, message=replace(env.message, edit_target=msg.edit_target))
            break
    return out


def chat_of(envelope: Envelope) -> ChatAddress | None:
    return envelope.to if isinstance(envelope.to, ChatAddress) else None
