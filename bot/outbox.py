"""Queueing what the bot says: envelopes become outbox rows in the caller's transaction.

This is where a message gets its kind (and so its priority), its deadline, and its
accounts: a person is written one row per bound account on a running platform. A file is
written to disk here, once, so every retry sends the same snapshot.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Config
from bot.messages import (
    Attachment,
    Button,
    ChatAddress,
    Envelope,
    GroupAck,
    Mention,
    OutgoingMessage,
    PersonAddress,
)
from bot.texts import Catalogue, Text
from storage import identity, nudges
from storage import outbox as store
from storage.models import Person, Role, SchoolClass
from storage.outbox import Kind

_UNSAFE = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


@dataclass
class Queued:
    """What one call to `Outbox.queue` wrote."""

    rows: int = 0
    # Envelopes to a person with no account on a running platform (and why).
    unreached: list[tuple[Envelope, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Said:
    """What one message (or job) says, for `Outbox.queue_many`: its envelopes, the cause
    they are queued under, and the chat and person that asked, if any."""

    envelopes: Sequence[Envelope]
    cause: str
    asker: ChatAddress | None = None
    asker_person: int | None = None


class OutboxTexts(Catalogue):
    undelivered_alert = Text(
        "⚠️ 以下异常提醒未能送达 {name}（{number}）：{reason}",
        "⚠️ This alert did not reach {name} ({number}): {reason}",
    )
    alert_undelivered = Text(
        "⚠️ 一条发给 {name}（{number}）的心理预警未能送达：{reason}。内容不在此转发，请尽快联系本人或学院心理健康联络人。",
        "⚠️ A mental-health alert for {name} ({number}) could not be delivered: {reason}. Its content is not forwarded here; please reach them or the college's mental-health contact.",
    )


class Outbox:
    """Turns envelopes into rows. `platforms` names the running platforms at the time of call;
    `nudge_text` gives each platform's ask to open a private chat (see `Adapter.nudge_text`)."""

    def __init__(
        self,
        config: Config,
        platforms: Callable[[], Collection[str]],
        nudge_text: Callable[[str], str | None] = lambda platform: None,
    ) -> None:
        self.config = config
        self.platforms = platforms
        self.nudge_text = nudge_text

    def nudge(
        self, session: Session, platform: str, user_id: str, group: str | None, now: datetime
    ) -> bool:
        """Queue, once, an ask in a group to an account marked unreachable to open a private
        chat; `group` is where they just wrote, or None for one of their class groups."""
        text = self.nudge_text(platform)
        if text is None or not nudges.claim_nudge(session, platform, user_id, now):
            return False
        where = group or nudges.nudge_group(session, platform, user_id)
        if where is None:
            return False
        actor = identity.actor_for_account(session, platform, user_id)
        message = OutgoingMessage(
            text, mentions=(Mention(user_id, actor.name if actor else user_id),)
        )
        self.queue(
            session,
            [Envelope(ChatAddress(platform, where, True), message)],
            cause=f"nudge:{platform}:{user_id}",
            now=now,
            default_kind=Kind.REMINDER,
        )
        return True

    def deadline(self, kind: Kind, now: datetime, due: datetime | None = None) -> datetime:
        cfg = self.config.outbox
        if kind in (Kind.REPLY, Kind.ACK):
            return now + cfg.reply_deadline
        if kind in (Kind.ALERT, Kind.APPROVAL) or due is None:
            return now + cfg.alert_deadline
        return max(due + self.config.schedule.grace, now + cfg.scheduled_min_deadline)

    def queue(
        self,
        session: Session,
        envelopes: Sequence[Envelope],
        *,
        cause: str,
        now: datetime,
        default_kind: Kind = Kind.ALERT,
        asker: ChatAddress | None = None,
        asker_person: int | None = None,
        due: datetime | None = None,
    ) -> Queued:
        """Write one row per envelope and account, in the session's transaction."""
        said = Said(envelopes, cause, asker, asker_person)
        [out] = self.queue_many(session, [said], now=now, default_kind=default_kind, due=due)
        return out

    def queue_many(
        self,
        session: Session,
        said: Sequence[Said],
        *,
        now: datetime,
        default_kind: Kind = Kind.ALERT,
        due: datetime | None = None,
    ) -> list[Queued]:
        """`queue` for what many messages say: one read of the accounts, one write."""
        outs = [Queued() for _ in said]
        if not any(s.envelopes for s in said):
            return outs
        platforms = list(self.platforms())
        person_ids = [
            e.to.person_id for s in said for e in s.envelopes if isinstance(e.to, PersonAddress)
        ]
        accounts = identity.accounts_for(session, person_ids, platforms) if person_ids else {}
        files: dict[int, tuple[str, str, str]] = {}
        rows: list[store.NewRow] = []
        for s, out in zip(said, outs, strict=True):
            for env in s.envelopes:
                kind = _kind(env, default_kind, s.asker, s.asker_person)
                found = (
                    accounts.get(env.to.person_id, []) if isinstance(env.to, PersonAddress) else []
                )
                attachment = None
                if env.message.attachment is not None and (
                    isinstance(env.to, ChatAddress) or found
                ):
                    key = id(env.message.attachment)
                    if key not in files:
                        files[key] = self._write_file(env.message.attachment)
                    attachment = files[key]
                common: dict[str, Any] = {
                    "cause": s.cause,
                    "kind": kind,
                    "body": _body(env.message, env.ack, env.tags),
                    "deadline": self.deadline(kind, now, due),
                    "attachment": attachment,
                    "coalesce_key": env.ack.key if env.ack is not None else None,
                    "delivery_id": env.delivery_id,
                }
                if isinstance(env.to, ChatAddress):
                    to_asker = env.to == s.asker and not env.to.is_group
                    rows.append(
                        store.NewRow(
                            platform=env.to.platform,
                            chat_id=env.to.chat_id,
                            is_group=env.to.is_group,
                            person_id=s.asker_person if to_asker else None,
                            **common,
                        )
                    )
                    out.rows += 1
                    continue
                if not found:
                    out.unreached.append((env, "no account on a running platform"))
                    continue
                for acc in found:
                    rows.append(
                        store.NewRow(
                            platform=acc.platform,
                            chat_id=acc.platform_user_id,
                            is_group=False,
                            person_id=env.to.person_id,
                            **common,
                        )
                    )
                    out.rows += 1
        store.add(session, rows, now)
        return outs

    def escalate(self, session: Session, row: store.Row, reason: str, now: datetime) -> bool:
        """An abnormal-health alert that reached none of a person's accounts goes one level
        up at once: a counselor's or head teacher's to their college admins, a college
        admin's to the school admins. Never dropped silently."""
        tags = row.body.get("tags", ())
        if not ({"health", "care"} & set(tags)) or row.person_id is None:
            return False
        if not store.reached_none(session, row.cause, row.person_id):
            return False
        person = session.get(Person, row.person_id)
        if person is None:
            return False
        actor = identity.actor_from_person(session, person)
        if actor.role in (Role.COUNSELOR, Role.HEAD_TEACHER):
            colleges = set(
                session.scalars(
                    select(SchoolClass.college_id).where(SchoolClass.id.in_(actor.class_ids))
                )
            )
            above = [a for c in sorted(colleges) for a in identity.college_admins(session, c)]
        elif actor.role is Role.COLLEGE_ADMIN:
            above = list(
                session.scalars(
                    select(Person).where(
                        Person.role == Role.SCHOOL_ADMIN.value, Person.active.is_(True)
                    )
                )
            )
        else:
            above = []
        if not above:
            return False
        if "care" in tags:
            # A care record's content is for its designated readers only: the level up is
            # told that it did not arrive, never what it said.
            message = OutgoingMessage(
                OutboxTexts.alert_undelivered(
                    self.config.bot.language, name=person.name, number=person.number, reason=reason
                )
            )
        else:
            head = OutboxTexts.undelivered_alert(
                self.config.bot.language, name=person.name, number=person.number, reason=reason
            )
            message = OutgoingMessage(f"{head}\n{row.body.get('text', '')}")
        queued = self.queue(
            session,
            [Envelope(PersonAddress(a.id), message, tags=("health",)) for a in above],
            cause=f"escalated:{row.id}",
            now=now,
        )
        return queued.rows > 0

    def _write_file(self, attachment: Attachment) -> tuple[str, str, str]:
        """The file as it is now, readable by the bot's user only (it holds health data)."""
        folder = Path(self.config.outbox.files_dir)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = _UNSAFE.sub("_", attachment.filename)[-100:] or "file"
        path = folder / f"{uuid.uuid4().hex}-{name}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(attachment.content)
        return str(path.resolve()), attachment.filename, attachment.mime_type


def _kind(
    env: Envelope, default: Kind, asker: ChatAddress | None, asker_person: int | None
) -> Kind:
    if env.kind is not None:
        return Kind(env.kind)
    if env.ack is not None:
        return Kind.ACK
    if asker is not None and env.to == asker:
        return Kind.REPLY
    if asker_person is not None and env.to == PersonAddress(asker_person):
        return Kind.REPLY
    return default


def _body(
    message: OutgoingMessage, ack: GroupAck | None, tags: Sequence[str] = ()
) -> dict[str, Any]:
    body: dict[str, Any] = {"text": message.text}
    if message.mentions:
        body["mentions"] = [[m.user_id, m.name] for m in message.mentions]
    if message.buttons:
        body["buttons"] = [[b.label, b.command] for b in message.buttons]
    if message.edit_target is not None:
        body["edit"] = message.edit_target
    if tags:
        body["tags"] = list(tags)
    if ack is not None:
        body["ack"] = {
            "verb": ack.verb,
            "name": ack.name,
            "done": ack.done,
            "of": ack.of,
            "mark": ack.mark,
        }
    return body


def message_of(row: store.Row) -> OutgoingMessage:
    """The message a row holds, its file read back from disk."""
    body = row.body
    attachment = None
    if row.attachment is not None:
        path, filename, mime = row.attachment
        attachment = Attachment(filename, Path(path).read_bytes(), mime)
    return OutgoingMessage(
        body.get("text", ""),
        mentions=tuple(Mention(u, n) for u, n in body.get("mentions", ())),
        attachment=attachment,
        buttons=tuple(Button(label, command) for label, command in body.get("buttons", ())),
        edit_target=body.get("edit"),
    )


def merged_ack(rows: Iterable[store.Row], language: str) -> OutgoingMessage:
    """One group message for several acknowledgements: `✓ 已打卡 +6：张晓明、王雨桐…（32/40）`.

    A single one keeps its own text. Names and counts only.
    """
    rows = list(rows)
    if len(rows) == 1:
        return message_of(rows[0])
    acks = [r.body.get("ack") or {} for r in rows]
    verb = acks[-1].get("verb", "")
    names = [f"{a.get('name', '')}{a.get('mark', '')}" for a in acks]
    done = max((a["done"] for a in acks if a.get("done") is not None), default=None)
    of = next((a["of"] for a in reversed(acks) if a.get("of") is not None), None)
    if language == "en":
        count = f" ({done}/{of})" if done is not None and of is not None else ""
        return OutgoingMessage(f"✓ {verb} +{len(rows)}: {', '.join(names)}{count}")
    count = f"（{done}/{of}）" if done is not None and of is not None else ""
    return OutgoingMessage(f"✓ {verb} +{len(rows)}：{'、'.join(names)}{count}")
