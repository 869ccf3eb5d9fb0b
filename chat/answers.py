"""How an answer is made: from the site's knowledge when it has any.

A certain FAQ match is answered at once with the approved text (no model call); nothing
relevant gets an honest "I don't know" with an offer of a human; otherwise the model
answers from the top passages and FAQ entries, citing them by number, once it has said
which of them answers the question (`sources_answer`).
"""

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from inference.base import Backend, ChatMessage, GenerationParams
from sites.models import Site

NO_ANSWER_EN = (
    "I'm sorry, I couldn't find an answer to that in our help center, and I don't want to "
    "guess. Would you like me to connect you with a human agent?"
)
NO_ANSWER_ZH = (
    "抱歉，我在帮助中心里没有找到这个问题的答案，不想随意猜测。需要我为您转接人工客服吗？"
)
CJK = re.compile(r"[\u3400-\u9fff]")
CITATION = re.compile(r"\[(\d{1,2})\]")
# Asked after the grounded prompt, as a turn of the customer's. With it, out-of-scope
# CLINC150 questions got an invented answer 2 times in 100 instead of 15 in 100 (`evaluate
# faq --answers`, README). Asking for a yes or no got "yes" every time, and quoting a
# decline sentence in the grounded prompt made the 1.5B model decline every question.
SOURCES_CHECK = (
    "Before you answer: which source answers my question? Reply with its number only, "
    "or 0 if none of them does."
)
SOURCE_NUMBER = re.compile(r"\d+")
EXCERPT_CHARS = 400


@dataclass(frozen=True)
class AnswerPlan:
    route: str = ""  # "" (plain chat: the site has no knowledge), fast_path, grounded, no_answer
    text: str = ""  # the finished answer for fast_path and no_answer
    sources: list[dict[str, Any]] = field(default_factory=list)
    check: bool = False  # grounded, but not surely: the model checks the sources first


def answer_plan(*, site: Site, question: str) -> AnswerPlan:
    """Decide how to answer `question` on `site`, from its own knowledge."""
    from knowledge.search import knowledge_available, knowledge_search

    if not knowledge_available(site):
        return AnswerPlan()
    result = knowledge_search(site=site, query=question, k=5)
    if result.route == "fast_path":
        faq = result.faqs[0]
        source = {
            "n": 1,
            "kind": "faq",
            "id": faq.faq_id,
            "title": faq.question,
            "excerpt": faq.answer[:EXCERPT_CHARS],
        }
        return AnswerPlan(route="fast_path", text=faq.answer, sources=[source])
    if result.route == "no_answer":
        return AnswerPlan(route="no_answer", text=no_answer_text(question))
    # Only sources that pass their own threshold: a weak one invites the model to answer
    # from it anyway. One of the two kinds passed, or the route would be no_answer.
    limits = result.thresholds
    passages = [p for p in result.passages if p.similarity >= limits.passage]
    confidence = result.faq_confidence
    faqs = result.faqs[:2] if confidence >= limits.no_answer else []
    margin = settings.KNOWLEDGE_ANSWER_CHECK_MARGIN
    sure = confidence >= limits.no_answer + margin or any(
        p.similarity >= limits.passage + margin for p in passages
    )
    sources = [
        {
            "n": 0,
            "kind": "passage",
            "id": p.passage_id,
            "title": p.document_title,
            "excerpt": p.text,
        }
        for p in passages[: settings.KNOWLEDGE_TOP_PASSAGES]
    ] + [
        {"n": 0, "kind": "faq", "id": f.faq_id, "title": f.question, "excerpt": f.answer}
        for f in faqs
    ]
    for number, source in enumerate(sources, start=1):
        source["n"] = number
    check = settings.KNOWLEDGE_ANSWER_CHECK and not sure
    return AnswerPlan(route="grounded", sources=sources, check=check)


def sources_answer(backend: Backend, messages: list[ChatMessage], request_id: str) -> bool:
    """Whether the model, given the grounded answer's own prompt, names a source that
    answers the question. A few tokens: the prompt is evaluated once, and llama.cpp (and
    vLLM's prefix cache) reuse that evaluation for the answer that follows. A reply without
    a number keeps the answer (the check only ever removes answers)."""
    check: list[ChatMessage] = [*messages, {"role": "user", "content": SOURCES_CHECK}]
    params = GenerationParams(max_tokens=4, temperature=0.0)
    reply = "".join(delta.text for delta in backend.stream(check, params, request_id))
    number = SOURCE_NUMBER.search(reply)
    return number is None or int(number.group()) != 0


def no_answer_text(question: str) -> str:
    return NO_ANSWER_ZH if CJK.search(question) else NO_ANSWER_EN


def sources_block(sources: list[dict[str, Any]]) -> str:
    """The numbered sources as the grounded prompt shows them to the model."""
    return "\n\n".join(f"[{s['n']}] {s['title']}\n{s['excerpt']}" for s in sources)


def sources_cited(text: str, sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sources an answer cites as [n], shortened for display; all of them if none is."""
    cited = {int(n) for n in CITATION.findall(text)}
    chosen = [s for s in sources if s["n"] in cited] or sources
    return [{**s, "excerpt": s["excerpt"][:EXCERPT_CHARS]} for s in chosen]
