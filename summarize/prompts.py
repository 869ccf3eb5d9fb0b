"""The summarizer's prompts: one per length and kind, in the summary's language.

Instructions are written in the language the summary must be in: the small default model
follows the prompt's language more reliably than a request to switch languages.
"""

from inference.base import ChatMessage

SYSTEM = {
    "en": "You summarize texts faithfully. Keep names, numbers and dates exactly as written. "
    "Never add facts that are not in the text.",
    "zh": "你负责忠实地总结文本。人名、数字和日期保持原样，不要添加原文中没有的内容。",
}
LENGTH = {
    "en": {
        "one_line": "Summarize the {what} in one sentence.",
        "short": "Summarize the {what} in two or three sentences.",
        "bullets": "Summarize the {what} as three to five short bullet points, "
        "each starting with '- '.",
    },
    "zh": {
        "one_line": "用一句话总结这段{what}。",
        "short": "用两三句话总结这段{what}。",
        "bullets": "用三到五个要点总结这段{what}，每个要点以“- ”开头。",
    },
}
WHAT = {
    "en": {"document": "text", "dialogue": "conversation", "parts": "document"},
    "zh": {"document": "文字", "dialogue": "对话", "parts": "文档"},
}
# A dialogue's summary in the third person, as support teams and the SAMSum and DialogSum
# references write them ("Amanda can't find Betty's number; ...").
DIALOGUE_NOTE = {
    "en": " Write in the third person and name who said what.",
    "zh": "用第三人称写，说明谁说了什么。",
}
# The structured form is asked for in the system prompt, as a template the reply fills: put
# after the conversation as an instruction, the 1.5B model wrote prose instead.
STRUCTURED = {
    "en": "You summarize customer-service conversations for the agent who takes over. Keep "
    "names, numbers and dates exactly as written. Reply in exactly four lines and nothing "
    "else:\nRequest: <what the customer asked for>\nDiscussed: <what was discussed or "
    "tried>\nOutcome: <how it ended>\nNext steps: <what was promised next, or none>",
    "zh": "你为接手的客服人员总结客服对话。人名、数字和日期保持原样。只回复以下四行，不要写别的："
    "\n诉求：<客户想要什么>\n过程：<讨论或尝试了什么>\n结果：<最后怎样>\n后续：<承诺了哪些后续步骤，"
    "没有就写“无”>",
}
CONVERSATION = {"en": "Conversation:", "zh": "对话："}
STEP = {
    "en": "This is one part of a longer document. Summarize this part in three to five "
    "sentences, keeping the names, numbers and dates it states.",
    "zh": "这是一篇长文档的一部分。用三到五句话总结这一部分，保留其中的人名、数字和日期。",
}
PARTS = {
    "en": "These are summaries of consecutive parts of one document, in order.",
    "zh": "以下是同一篇文档各部分的摘要，按顺序排列。",
}


# A dialogue's short summary is one or two sentences: support notes (and the DialogSum and
# SAMSum references, about 20-30 words) are that long; asked for two or three sentences
# the model wrote 69 words on DialogSum and fell under lead-3 (README).
DIALOGUE_SHORT = {
    "en": "Summarize the conversation in one or two short sentences.",
    "zh": "用一两句话简短地总结这段对话。",
}


def instruction(*, language: str, length: str, kind: str, structured: bool = False) -> str:
    if kind == "dialogue" and length == "short":
        return DIALOGUE_SHORT[language] + DIALOGUE_NOTE[language]
    text = LENGTH[language][length].format(what=WHAT[language][kind])
    if kind == "dialogue":
        text += DIALOGUE_NOTE[language]
    return text


def summary_messages(
    *, text: str, language: str, length: str, kind: str, structured: bool = False
) -> list[ChatMessage]:
    """The whole text summarized at once (it fits the context)."""
    if kind == "dialogue" and structured:
        return [
            {"role": "system", "content": STRUCTURED[language]},
            {"role": "user", "content": f"{CONVERSATION[language]}\n{text}"},
        ]
    task = instruction(language=language, length=length, kind=kind, structured=structured)
    return [
        {"role": "system", "content": SYSTEM[language]},
        {"role": "user", "content": f"{text}\n\n{task}"},
    ]


def step_messages(*, text: str, language: str) -> list[ChatMessage]:
    """One chunk of a long input (the map step)."""
    return [
        {"role": "system", "content": SYSTEM[language]},
        {"role": "user", "content": f"{text}\n\n{STEP[language]}"},
    ]


def reduce_messages(
    *, parts: list[str], language: str, length: str, kind: str, structured: bool = False
) -> list[ChatMessage]:
    """The partial summaries of a long input, summarized together (the reduce step)."""
    if kind == "dialogue" and structured:
        joined = "\n\n".join(parts)
        return [
            {"role": "system", "content": STRUCTURED[language]},
            {"role": "user", "content": f"{PARTS[language]}\n\n{joined}"},
        ]
    what = "parts" if kind == "document" else kind
    task = instruction(language=language, length=length, kind=what, structured=structured)
    joined = "\n\n".join(f"({n}) {part}" for n, part in enumerate(parts, start=1))
    return [
        {"role": "system", "content": SYSTEM[language]},
        {"role": "user", "content": f"{PARTS[language]}\n\n{joined}\n\n{task}"},
    ]
