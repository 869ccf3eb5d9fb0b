"""The translator's prompts: instructions, two example pairs per direction (the small
default model copies their register and stops after the translation instead of explaining
it), the glossary terms a segment contains, and the text, each asked in one line."""

import re

from inference.base import ChatMessage
from translate.glossary import Term, glossary_inline
from translate.languages import LANGUAGES

SYSTEM = (
    "You are a professional translator for a customer-service team. Translate the user's "
    "text from {source} into natural {target}, every word of it. Reply with the translation "
    "only: no notes, no quotes, no explanations. Keep numbers, URLs, placeholders such as "
    "⟦0⟧ or #NAME# and Markdown marks (**, *, [ ], `) exactly as they are."
)
# (Asked to keep "names" as they are too, the 1.5B model left common words untranslated:
# "雪季的第一场大雪期间， avalanche发生了" on WMT22; the glossary keeps real names.)
EXAMPLES: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("en", "zh"): [
        (
            "Your refund of 25.00 USD was sent on Monday and should reach your card within five "
            "working days.",
            "您的 25.00 美元退款已于周一发出，预计五个工作日内退回到您的银行卡。",
        ),
        (
            "Sorry for the wait! Could you tell me your order number?",
            "抱歉让您久等了！能告诉我您的订单号吗？",
        ),
    ],
    ("zh", "en"): [
        (
            "您的订单已经发货，快递单号是 SF1234567，预计明天送达。",
            "Your order has shipped. The tracking number is SF1234567, and it should arrive "
            "tomorrow.",
        ),
        (
            "不好意思，我昨天买的耳机还没发货，能帮我查一下吗？",
            "Sorry, the headphones I bought yesterday haven't shipped yet. Could you check for me?",
        ),
    ],
}
# Measured on the calibrate halves of WMT22 and NTREX (30 and 20 items a direction): the
# one-line ask of each turn ("Translate to Chinese: ...") did more than the instructions
# alone (WMT22 en->zh chrF 26.8 -> 28.9); a second, conversational example added a little
# more; no example at all lost to the plain prompt.
ASK = "Translate to {target}: {text}"
_LEAD = re.compile(
    r"^\s*(?:(?:english |chinese )?translation|译文|翻译|translate to [^:：\n]{1,30})\s*[:：]\s*",
    re.IGNORECASE,
)


def glossary_note(terms: list[Term]) -> str:
    lines = [
        f'- keep "{t.source}" as it is' if t.keep else f'- write "{t.target}" for "{t.source}"'
        for t in terms
    ]
    return "Use this glossary:\n" + "\n".join(lines)


def translation_messages(
    *, text: str, source_lang: str, target_lang: str, terms: list[Term] | None = None
) -> list[ChatMessage]:
    """The instructions and the example first, the same for every text of a direction (so
    the model's saved state of that prefix serves each live message); then the glossary of
    this text, if any, and the text with its terms already written in the target language."""
    source, target = LANGUAGES[source_lang].name, LANGUAGES[target_lang].name
    messages: list[ChatMessage] = [
        {"role": "system", "content": SYSTEM.format(source=source, target=target)}
    ]
    for example, translated in EXAMPLES.get((source_lang, target_lang), []):
        messages += [
            {"role": "user", "content": ASK.format(target=target, text=example)},
            {"role": "assistant", "content": translated},
        ]
    if terms:
        messages.append({"role": "system", "content": glossary_note(terms)})
    text = glossary_inline(terms or [], text)
    messages.append({"role": "user", "content": ASK.format(target=target, text=text)})
    return messages


def plain_messages(*, text: str, target_lang: str) -> list[ChatMessage]:
    """The baseline: the raw model asked in one line."""
    return [{"role": "user", "content": f"Translate to {LANGUAGES[target_lang].name}: {text}"}]


def translation_clean(text: str, source: str) -> str:
    """The model's reply without a "Translation:" lead or quotes the source did not have."""
    text = _LEAD.sub("", text.strip())
    for left, right in (('"', '"'), ("“", "”"), ("「", "」")):
        if text.startswith(left) and text.endswith(right) and not source.strip().startswith(left):
            text = text[len(left) : -len(right)].strip()
    return text
