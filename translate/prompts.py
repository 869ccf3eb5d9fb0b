"""The translator's prompts: instructions, the glossary terms a segment contains, and one
example pair per direction (the small default model copies the example's register and
stops after the translation instead of explaining it)."""

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
EXAMPLES: dict[tuple[str, str], tuple[str, str]] = {
    ("en", "zh"): (
        "Your refund of 25.00 USD was sent on Monday and should reach your card within five "
        "working days.",
        "您的 25.00 美元退款已于周一发出，预计五个工作日内退回到您的银行卡。",
    ),
    ("zh", "en"): (
        "您的订单已经发货，快递单号是 SF1234567，预计明天送达。",
        "Your order has shipped. The tracking number is SF1234567, and it should arrive tomorrow.",
    ),
}
_LEAD = re.compile(r"^\s*(?:translation|译文|翻译)\s*[:：]\s*", re.IGNORECASE)


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
    system = SYSTEM.format(source=LANGUAGES[source_lang].name, target=LANGUAGES[target_lang].name)
    messages: list[ChatMessage] = [{"role": "system", "content": system}]
    if example := EXAMPLES.get((source_lang, target_lang)):
        messages += [
            {"role": "user", "content": example[0]},
            {"role": "assistant", "content": example[1]},
        ]
    if terms:
        messages.append({"role": "system", "content": glossary_note(terms)})
    messages.append({"role": "user", "content": glossary_inline(terms or [], text)})
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
