"""The 信息收集 table (collections from a template, their answers, and the CLI that starts them), in both languages.

A module of its own, so the campaign jobs (schedules/campaigns.py) and the handlers share
it without importing each other."""

from __future__ import annotations

from bot.texts import Catalogue, Text


class CollectTexts(Catalogue):
    """信息收集: collections staff start from a template, and the students' 填."""

    verb = Text("填写", "answer")
    noun = Text("信息收集", "Collection")
    posted = Text(
        "📝 信息收集 {ref}：{title}（{sender}）{description}\n"
        "请在 {deadline} 前私聊我填写，按顺序回答：{order}\n"
        "一行写完：填 {ref} {example}\n或只发「填 {ref}」，我逐题问你。",
        "📝 Collection {ref}: {title} (from {sender}){description}\n"
        "Answer me privately by {deadline}, in this order: {order}\n"
        "In one line: /fill {ref} {example}\nOr send just /fill {ref} and I ask question by question.",
    )
    started = Text(
        "✓ 已发起信息收集 {ref}「{title}」：{groups} 个班级群，{students} 位同学，截止 {deadline}。"
        "截止前和截止时会提醒未填写的同学，名单私发给你。发送「进度 {ref}」查看进度，「导出 {ref}」导出表格。",
        "✓ Collection {ref} “{title}” started: {groups} class groups, {students} students, due "
        "{deadline}. Those who have not answered are reminded before and at the deadline; you get "
        "the list privately. Send /progress {ref} to follow it, /export {ref} for the sheet.",
    )
    no_template = Text(
        "没有叫「{name}」的模板。可用的模板：{names}。",
        "There is no template called “{name}”. Templates: {names}.",
    )
    no_templates = Text("（没有模板）", "(none)")
    name_template = Text(
        "请写模板名，可用的模板：{names}。", "Name a template; the templates are: {names}."
    )
    unknown_scope = Text(
        "「{token}」不是截止时间，也不是班级、学院或「全部」。",
        "“{token}” is neither a deadline nor a class, a college or all.",
    )
    bad_time = Text(
        "时间「{token}」看不懂，例：18:00。", "Cannot read the time “{token}”; e.g. 18:00."
    )
    past_deadline = Text(
        "截止时间 {deadline} 已经过去了。", "The deadline {deadline} is already past."
    )
    no_classes = Text("这个范围里没有班级。", "There are no classes in that scope.")
    privately = Text(
        "请私聊我填写，群里不会保存你发的内容。",
        "Please answer me privately; nothing you sent here was stored.",
    )
    nothing_open = Text("你目前没有需要填写的信息收集。", "You have no collection to answer.")
    open_list = Text(
        "需要填写的信息收集：\n{lines}\n发送「填 编号」逐题回答，或「填 编号 答案…」一行写完。",
        "Collections for you:\n{lines}\nSend /fill <id> to answer question by question, or /fill <id> <answers…> in one line.",
    )
    open_line = Text(
        "{ref} {title}（截止 {deadline}）{state}", "{ref} {title} (due {deadline}){state}"
    )
    answered_mark = Text(" ✓ 已填，可重新填写", " ✓ answered; you may answer again")
    not_for_you = Text("信息收集 {ref} 不是发给你的。", "Collection {ref} was not sent to you.")
    closed = Text("信息收集 {ref} 已截止，不能再填写。", "Collection {ref} is closed.")
    name_it = Text("请写信息收集的编号，如：填 C3", "Name the collection by its id, e.g. /fill C3")
    question = Text(
        "{ref} 第 {n}/{total} 题：{question}{hint}\n（发送「取消」结束）",
        "{ref} question {n}/{total}: {question}{hint}\n(send /cancel to stop)",
    )
    options_hint = Text("\n选项：{options}", "\nOptions: {options}")
    multi_hint = Text("（可多选，用、分隔）", " (several allowed, separated by commas)")
    example_hint = Text("\n例：{example}", "\ne.g. {example}")
    optional_hint = Text("（可不填，发 - 跳过）", " (optional: send - to skip)")
    saved = Text(
        "✓ 已提交 {ref}「{title}」{updated}\n{lines}\n如有不对，重新填写即可，以最后一次为准。",
        "✓ Answered {ref} “{title}”{updated}\n{lines}\nIf anything is wrong, answer again: the last one counts.",
    )
    updated = Text("（已更新之前的回答）", " (replaces your earlier answer)")
    answer_line = Text("{question}：{value}", "{question}: {value}")
    name_campaign = Text(
        "请写编号，如：{command} C3", "Name the collection or notice by its id, e.g. {command} C3"
    )
    not_a_campaign = Text(
        "「{token}」不是信息收集或通知的编号。", "“{token}” is not a collection or notice id."
    )
    progress_names = Text("    未{verb}：{names}", "    not yet ({verb}): {names}")
    progress_due = Text("截止 {deadline}{closed}", "due {deadline}{closed}")
    closed_mark = Text("（已截止）", " (closed)")
    exported = Text(
        "📎 {title}（{ref}）{label}：{rows} 人", "📎 {title} ({ref}) {label}: {rows} students"
    )
    sent_privately = Text("已私信发给你。", "Sent to you privately.")
    mine = Text(
        "待填写的信息收集：{refs}（发送「填 编号」）",
        "Collections to answer: {refs} (send /fill <id>)",
    )
    cli_created = Text(
        "已发起信息收集 {ref}「{title}」：{groups} 个班级群，{students} 位同学，截止 {deadline}。",
        "Collection {ref} “{title}” started: {groups} class groups, {students} students, due {deadline}.",
    )
    cli_template = Text("已写出空白表单：{path}", "Blank form sheet written: {path}")
    cli_bad_scope = Text(
        "范围「{scope}」不是班级代码、学院名称或「全部」。",
        "The scope “{scope}” is not a class code, a college name or all.",
    )
    cli_bad_deadline = Text(
        "截止时间「{deadline}」看不懂，例：2027-01-10 18:00 或 1-10。",
        "Cannot read the deadline “{deadline}”; e.g. 2027-01-10 18:00 or 1-10.",
    )
