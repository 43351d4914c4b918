"""The console demo, scripted through standard input as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_demo(script: str, tmp_path: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--dir", str(tmp_path), *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def test_scripted_checkin_prints_the_count_and_never_the_temperature_in_the_group(
    tmp_path: Path,
) -> None:
    out = run_demo(":as 2020001\n打卡 36.5\n", tmp_path)
    group_lines = [line for line in out.splitlines() if line.startswith("[群 ")]
    assert group_lines == ["[群 护理172] 🤖 ✓ 张晓明 已打卡 1/30"]
    assert "36.5" not in "\n".join(group_lines)


def test_console_switches_speaker_and_chat(tmp_path: Path) -> None:
    out = run_demo(":as 2020003\n:dm\n打卡 37.5 咳嗽\n:as T001\n:now\n:bogus\n", tmp_path)
    assert "[私聊 → 王雨桐(2020003)] 🤖 ✓ 已打卡" in out
    assert "[私聊 → 王芳(T001)] 🤖 ⚠️ 异常打卡：王雨桐" in out
    assert "[私聊 → 李建国(T002)] 🤖 ⚠️ 异常打卡" in out
    assert "未知的控制台命令 :bogus" in out


def test_speaking_before_choosing_a_person_is_explained(tmp_path: Path) -> None:
    out = run_demo("打卡 36.5\n", tmp_path)
    assert ":as" in out


def test_console_tells_the_whole_day(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    script = ":time 07:00\n:as 2020001\n打卡 36.5\n:as 2020003\n打卡 37.8 咳嗽\n:time 11:00\n:time 12:00\n"
    out = run_demo(script, tmp_path)
    assert "[群 护理172] 🤖 🌅" in out and "[群 检验172] 🤖 🌅" in out
    reminder = next(line for line in out.splitlines() if line.startswith("[群 护理172] 🤖 ⏰"))
    assert "28 位同学未打卡" in reminder
    mentions = out.split(reminder, 1)[1].splitlines()[1]
    assert "@张晓明" not in mentions and "@王雨桐" not in mentions and "@李思远" in mentions
    assert "[私聊 → 王芳(T001)] 🤖 ⏰" in out
    assert "护理172：应打卡 30，已打卡 2（迟交 0），未打卡 28，异常 1" in out
    ledger = (
        tmp_path
        / "out"
        / next(p.name for p in (tmp_path / "out").iterdir() if p.name.startswith("台账-王芳"))
    )
    wb = load_workbook(ledger)
    assert wb.sheetnames == ["打卡", "未打卡", "异常", "请假", "考勤", "统计图"]
    assert wb["打卡"].max_row - 1 == 60
    assert wb["未打卡"].max_row - 1 == 58
    assert wb["异常"].max_row - 1 == 1
    # The college admin's roll-up carries its chart, saved beside the ledgers.
    assert any(p.name.startswith("统计图-医学院") for p in (tmp_path / "out").iterdir())


def stamps(out: str) -> list[str]:
    return [line.removeprefix("🕐 ") for line in out.splitlines() if line.startswith("🕐 ")]


def test_moving_to_the_next_morning_runs_every_job_of_the_day_passed_in_order(
    tmp_path: Path,
) -> None:
    out = run_demo(":as 2020001\n打卡 36.5\n:time 06:00\n", tmp_path, "--date", "2026-11-23")
    # 2026-11-23 is a Monday: the prompt, the weekly attendance summary, the deadline, the
    # roll-up and the 诉求 digest each run at their own time before the clock stops at the
    # next 06:00.
    assert stamps(out) == [
        "2026-11-23 07:00",
        "2026-11-23 09:00",
        "2026-11-23 11:00",
        "2026-11-23 12:00",
        "2026-11-23 18:00",
        "2026-11-24 06:00",
    ]
    order = [
        out.index("[群 护理172] 🤖 🌅 11月23日"),
        out.index("[私聊 → 王芳(T001)] 🤖 📋 考勤周报"),
        out.index("[群 护理172] 🤖 ⏰ 11月23日"),
        out.index("[私聊 → 王芳(T001)] 🤖 📊 11月23日 打卡汇总"),
        out.index("[私聊 → 王芳(T001)] 🤖 📮 今日无新诉求"),
    ]
    assert order == sorted(order)
    assert "护理172：应打卡 30，已打卡 1（迟交 0），未打卡 29" in out
    assert (tmp_path / "out" / "台账-王芳-2026-11-23.xlsx").exists()


def test_moving_the_date_to_tomorrow_keeps_the_roll_up(tmp_path: Path) -> None:
    out = run_demo(":date 明天\n:date 2026-11-26\n", tmp_path, "--date", "2026-11-23")
    rollups = [line for line in out.splitlines() if "🤖 📊" in line and "王芳" in line]
    assert rollups == [
        "[私聊 → 王芳(T001)] 🤖 📊 11月23日 打卡汇总（王芳）",
        "[私聊 → 王芳(T001)] 🤖 📊 11月24日 打卡汇总（王芳）",
        "[私聊 → 王芳(T001)] 🤖 📊 11月25日 打卡汇总（王芳）",
    ]
    assert stamps(out)[-1] == "2026-11-26 06:30" and "2026-11-24 06:30" in stamps(out)
    for day in ("2026-11-23", "2026-11-24", "2026-11-25"):
        assert (tmp_path / "out" / f"台账-全校-{day}.xlsx").exists()


def test_a_jump_longer_than_the_limit_is_refused_and_the_clock_stays(tmp_path: Path) -> None:
    out = run_demo(":date 2026-12-10\n:now\n", tmp_path, "--date", "2026-11-23")
    assert "一次最多往后拨 14 天（console.max_jump_days）；请分几次拨，例 :date 2026-12-07" in out
    assert "🕐 2026-11-23 06:30  身份 （未选择）" in out
    assert "🤖" not in out


def test_a_date_the_console_cannot_read_shows_the_forms(tmp_path: Path) -> None:
    out = run_demo(":date someday\n", tmp_path, "--date", "2026-11-23")
    assert "格式：:date YYYY-MM-DD（也可写 11-24、11月24日、明天）" in out


def test_the_demo_starts_on_the_date_given(tmp_path: Path) -> None:
    out = run_demo(":now\n", tmp_path, "--date", "2026-11-22", "--start", "08:15")
    assert out.startswith("classbot demo — 2026-11-22 08:15，")
    assert "🕐 2026-11-22 08:15" in out


def test_the_demo_refuses_a_start_date_it_cannot_read(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--dir", str(tmp_path), "--date", "someday"],
        input="",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "--date 'someday' 看不懂：可以写 2026-12-02、12-02、12月2日、今天或昨天。"
    )


def test_reject_asks_for_the_reason_and_the_next_line_is_it(tmp_path: Path) -> None:
    script = ":as 2020001\n:dm\n请假 明天 事假 回家办身份证\n:as T001\n:dm\n驳回 L1\n家长未同意\n"
    out = run_demo(script, tmp_path)
    assert "[私聊 → 王芳(T001)] 🤖 驳回 L1 的理由？请直接发送（发送「取消」放弃）。" in out
    assert "[私聊 → 王芳(T001)] 🤖 ✓ 已驳回请假 L1（张晓明），已通知学生。" in out
    told = out.split("[私聊 → 张晓明(2020001)] 🤖 ❌ 你的请假 L1", 1)[1]
    assert "理由：家长未同意" in told
