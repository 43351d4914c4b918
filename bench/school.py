"""A synthetic university from a seed: colleges, classes, students, counselors and admins.

The default is the size the bot must serve: 67,000 students in 1,700 classes and 30 colleges,
with 400 counselors. A smaller school keeps the same proportions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from storage.roster import RosterData, StaffRow, StudentRow

STUDENTS = 67_000
CLASSES = 1_700
COLLEGES = 30
COUNSELORS = 400

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_GIVEN = "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉浩宇轩然欣怡梓涵子墨雨萱佳琪思远嘉文博晨阳诗婉清泽楷俊熙可馨若曦一鸣天佑晓雯梦瑶"


@dataclass(frozen=True)
class SchoolSize:
    students: int
    classes: int
    colleges: int
    counselors: int

    @classmethod
    def scaled(cls, students: int = STUDENTS) -> SchoolSize:
        """A school of `students`, with classes, colleges and counselors in proportion."""
        if students < 1:
            raise ValueError("a school needs at least one student")

        def part(full: int) -> int:
            return max(1, round(full * students / STUDENTS))

        classes = min(part(CLASSES), students)
        return cls(students, classes, min(part(COLLEGES), classes), min(part(COUNSELORS), classes))


@dataclass(frozen=True)
class School:
    """The roster to import, and who is who in it (numbers are the chat user ids too)."""

    size: SchoolSize
    roster: RosterData
    # Student number -> class code, in roster order.
    class_of: dict[str, str]
    class_codes: list[str]
    college_names: list[str]
    counselor_numbers: list[str]
    college_admin_numbers: list[str]
    school_admin_number: str


def _name(rng: random.Random) -> str:
    given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(_SURNAMES) + given


def generate(size: SchoolSize, seed: int = 2026) -> School:
    """The same school for the same size and seed.

    Classes are laid out college by college, and each counselor serves a run of neighbouring
    classes, so a counselor's classes are (almost always) in one college, as in a real school.
    Each class's first student is its monitor (班长).
    """
    rng = random.Random(seed)
    colleges = [f"学院{i + 1:02d}" for i in range(size.colleges)]
    codes = [f"班{i + 1:04d}" for i in range(size.classes)]
    college_of = {code: colleges[i * size.colleges // size.classes] for i, code in enumerate(codes)}

    data = RosterData()
    class_of: dict[str, str] = {}
    row = 2
    for i in range(size.students):
        # Students are spread evenly: class sizes differ by at most one.
        code = codes[i * size.classes // size.students]
        number = f"{2026_000_001 + i}"
        first_in_class = not data.students or data.students[-1].class_code != code
        data.students.append(
            StudentRow(
                row,
                number,
                _name(rng),
                college_of[code],
                code,
                "班长" if first_in_class else "学生",
            )
        )
        class_of[number] = code
        row += 1

    staff_row = 2
    served: list[list[str]] = [[] for _ in range(size.counselors)]
    for i, code in enumerate(codes):
        served[i * size.counselors // size.classes].append(code)
    counselors = []
    for i, classes in enumerate(served):
        number = f"F{i + 1:04d}"
        counselors.append(number)
        data.staff.append(StaffRow(staff_row, number, _name(rng), "辅导员", "", tuple(classes)))
        staff_row += 1
    admins = []
    for i, college in enumerate(colleges):
        number = f"X{i + 1:03d}"
        admins.append(number)
        data.staff.append(StaffRow(staff_row, number, _name(rng), "学工办", college, ()))
        staff_row += 1
    data.staff.append(StaffRow(staff_row, "S001", _name(rng), "学工部", "", ()))
    return School(size, data, class_of, codes, colleges, counselors, admins, "S001")
