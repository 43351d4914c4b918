"""The demo school (SPEC §7): fixed and documented, so tours and scripts can rely on it.

College 医学院 with classes 护理172 (students 2020001–2020030) and 检验172 (2020031–2020060).
2020002 is the monitor of 护理172 and 2020004 its 心理委员. T001 counsels both classes, T002
is the head teacher of 护理172, T003 the college admin (学工办), T009 a school admin (学工部).
Each class has one bound group named after it, and every person has an account on each given
platform whose user id is their 学号/工号. Everyone has agreed to the privacy notice. The
console demo also has two key students of 护理172, each tagged by T001 with one contact log
(`seed_care`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from storage.db import analyze
from storage.models import CareContact, CareTag, ChatAccount, GroupChat, Person, SchoolClass
from storage.roster import RosterData, StaffRow, StudentRow, import_roster

COLLEGE = "医学院"
# 护理172's 心理委员.
PSYCH_REP_NUMBER = "2020004"
CLASSES = ("护理172", "检验172")

STUDENT_NAMES = [
    "张晓明",
    "李思远",
    "王雨桐",
    "刘子涵",
    "陈嘉怡",
    "杨浩然",
    "赵欣怡",
    "黄梓轩",
    "周佳琪",
    "吴宇航",
    "徐若曦",
    "孙俊杰",
    "胡诗涵",
    "朱泽宇",
    "高雅婷",
    "林一鸣",
    "何欣然",
    "郭天佑",
    "马晓雯",
    "罗文博",
    "梁梦瑶",
    "宋子墨",
    "郑雨萱",
    "谢明轩",
    "韩静怡",
    "唐伟杰",
    "冯可馨",
    "于博文",
    "董思琪",
    "萧逸凡",
    "程婉清",
    "曹振宇",
    "袁嘉欣",
    "邓子豪",
    "许梦洁",
    "傅立群",
    "沈佳怡",
    "曾国栋",
    "彭诗雨",
    "吕晨阳",
    "苏婉婷",
    "卢志远",
    "蒋雪莹",
    "蔡俊豪",
    "贾静雯",
    "丁浩宇",
    "魏紫涵",
    "薛子昂",
    "叶思彤",
    "阎瑞泽",
    "余佳慧",
    "潘宏伟",
    "杜若兰",
    "戴文轩",
    "夏雨晴",
    "钟俊熙",
    "汪可欣",
    "田志豪",
    "任晓琳",
    "姜泽楷",
]

STAFF = (
    ("T001", "王芳", "辅导员", "", CLASSES),
    ("T002", "李建国", "班主任", "", (CLASSES[0],)),
    ("T003", "赵敏", "学工办", COLLEGE, ()),
    ("T009", "陈志强", "学工部", "", ()),
)


def roster() -> RosterData:
    data = RosterData()
    for i, name in enumerate(STUDENT_NAMES):
        number = f"{2020001 + i}"
        class_code = CLASSES[0] if i < 30 else CLASSES[1]
        role = {"2020002": "班长", PSYCH_REP_NUMBER: "学生、心理委员"}.get(number, "学生")
        data.students.append(StudentRow(i + 2, number, name, COLLEGE, class_code, role))
    for i, (number, name, role, college, classes) in enumerate(STAFF):
        data.staff.append(StaffRow(i + 2, number, name, role, college, classes))
    return data


def seed(
    session: Session,
    now: datetime,
    platforms: Iterable[str] = ("console",),
    consent_version: int = 1,
) -> None:
    """Import the demo roster, bind a group per class and an account per person and platform."""
    import_roster(session, roster(), now)
    bind_everyone(session, now, platforms, consent_version)


def bind_everyone(
    session: Session, now: datetime, platforms: Iterable[str], consent_version: int = 1
) -> None:
    """Bind a group named after its class per class, and an account per person and platform
    whose user id is the 学号/工号; everyone has agreed to the privacy notice.

    Written as bulk inserts: the benchmark binds a whole university this way.
    """
    people = list(session.execute(select(Person.id, Person.number, Person.name)))
    classes = list(session.execute(select(SchoolClass.id, SchoolClass.code)))
    # Bound the day before: the demo's first roll-up lists no one as newly bound.
    bound_at = now - timedelta(days=1)
    for platform in platforms:
        if classes:
            session.execute(
                insert(GroupChat),
                [
                    {
                        "platform": platform,
                        "chat_id": code,
                        "class_id": cid,
                        "title": code,
                        "bound_at": bound_at,
                    }
                    for cid, code in classes
                ],
            )
        if people:
            session.execute(
                insert(ChatAccount),
                [
                    {
                        "platform": platform,
                        "platform_user_id": number,
                        "person_id": pid,
                        "display_name": name,
                        "bound_at": bound_at,
                    }
                    for pid, number, name in people
                ],
            )
    session.execute(update(Person).values(consent_version=consent_version, consent_at=now))
    session.flush()
    analyze(session, "group_chats", "chat_accounts", "people")


# Key students of 护理172 (student, category, kind, mode, who took part, what was learned,
# help given), each tagged by the counselor T001 with one contact log.
KEY_STUDENTS = (
    (
        "2020012",
        "家庭经济困难",
        "visit",
        "视频",
        "王芳,家长",
        "父亲务工收入减少，网课流量不够用",
        "申请临时困难补助，发放流量补贴",
    ),
    (
        "2020015",
        "未就业",
        "talk",
        "电话",
        "王芳",
        "还没有签约单位，想准备专升本",
        "推送招聘信息和专升本政策",
    ),
)


def seed_care(session: Session, now: datetime) -> None:
    """The demo's key students: tagged and visited by T001 on the demo's first day."""
    numbers = [k[0] for k in KEY_STUDENTS] + ["T001"]
    ids: dict[str, int] = {
        number: pid
        for number, pid in session.execute(
            select(Person.number, Person.id).where(Person.number.in_(numbers))
        )
    }
    counselor = ids["T001"]
    for number, category, kind, mode, participants, situation, help_given in KEY_STUDENTS:
        session.add(
            CareTag(student_id=ids[number], category=category, tagged_by=counselor, tagged_at=now)
        )
        session.add(
            CareContact(
                student_id=ids[number],
                kind=kind,
                day=now.date(),
                mode=mode,
                participants=participants,
                situation=situation,
                help_given=help_given,
                recorded_by=counselor,
                recorded_at=now,
            )
        )
    session.flush()
