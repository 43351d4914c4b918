"""The 通知 table (the notices staff send and the students' 收到), in both languages.

A module of its own, so the campaign jobs (schedules/campaigns.py) and the handlers share
it without importing each other."""

from __future__ import annotations

from bot.texts import Catalogue, Text


class NoticeTexts(Catalogue):
    """通知: notices staff send, and the students' 收到."""

    verb = Text("确认", "confirm")
    posted = Text(
        "📢 通知 {ref}（{sender}）：{body}\n请在 {deadline} 前回复「收到」确认（或：收到 {ref}）。",
        "📢 Notice {ref} (from {sender}): {body}\nPlease confirm by {deadline}: send /ack (or /ack {ref}).",
    )
    button = Text("收到", "Got it")
    sent = Text(
        "✓ 已发出通知 {ref}：{groups} 个班级群，{students} 位同学，截止 {deadline}。"
        "截止前 {before} 和截止时会提醒未确认的同学，名单私发给你。",
        "✓ Notice {ref} sent: {groups} class groups, {students} students, due {deadline}. "
        "Those who have not confirmed are reminded {before} before and at the deadline; "
        "you get the list privately.",
    )
    sent_due_only = Text(
        "✓ 已发出通知 {ref}：{groups} 个班级群，{students} 位同学，截止 {deadline}。"
        "截止时会提醒未确认的同学，名单私发给你。",
        "✓ Notice {ref} sent: {groups} class groups, {students} students, due {deadline}. "
        "Those who have not confirmed are reminded at the deadline; you get the list privately.",
    )
    confirmed = Text("✓ {name} 已确认通知 {refs}", "✓ {name} confirmed notice {refs}")
    confirmed_group = Text("✓ {name} 已确认 {done}/{of}", "✓ {name} confirmed {done}/{of}")
    ack_verb = Text("已确认", "confirmed")
    already = Text("你已确认过通知 {refs}。", "You have already confirmed notice {refs}.")
    nothing_open = Text(
        "你目前没有需要确认的通知。", "You have no notice waiting for your confirmation."
    )
    not_yours = Text("通知 {ref} 不是发给你的。", "Notice {ref} was not sent to you.")
    staff_ack = Text(
        "「收到」是同学确认通知用的；发送「进度 N编号」查看确认情况。",
        "/ack is for students confirming a notice; send /progress with the notice id to see who has.",
    )
    unknown_scope = Text(
        "找不到班级或学院「{scope}」。范围写班级代码、学院名称，或「全部」。",
        "No class or college called “{scope}”. The scope is a class code, a college name, or all.",
    )
    no_body = Text("通知正文不能为空。", "The notice needs a text.")
    body_too_long = Text(
        "通知正文太长：最多 {limit} 个字。", "The notice is too long: at most {limit} characters."
    )
    bad_deadline = Text(
        "截止时间没看懂：「截止」后写日期和时间，如：截止 {example} 18:00。",
        "Could not read the deadline: after “deadline” write a date and a time, e.g. deadline {example} 18:00.",
    )
    past_deadline = Text(
        "截止时间 {deadline} 已经过去了。", "The deadline {deadline} is already past."
    )
    no_classes = Text("这个范围里没有班级。", "There are no classes in that scope.")
    mine = Text("待确认的通知：{refs}（回复「收到」）", "Notices to confirm: {refs} (send /ack)")
    name_it = Text("请写通知编号，如：收到 N3", "Name the notice by its id, e.g. /ack N3")
