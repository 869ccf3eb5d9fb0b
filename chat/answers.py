"""How an answer is made: from the site's knowledge when it has any.

A certain FAQ match is answered at once with the approved text (no model call); nothing
relevant at all (a clear miss) gets an honest "I don't know" with an offer of a human;
otherwise the model answers from the top passages and FAQ entries, citing them by number,
unless its probability that none of them answers (`sources_check`) reaches the threshold.
"""

import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from inference.base import Backend, ChatMessage
from knowledge.text import text_language
from sites.models import Site

NO_ANSWER_EN = (
    "I'm sorry, I couldn't find an answer to that in our help center, and I don't want to "
    "guess. Would you like me to connect you with a human agent?"
)
NO_ANSWER_ZH = (
    "抱歉，我在帮助中心里没有找到这个问题的答案，不想随意猜测。需要我为您转接人工客服吗？"
)
CITATION = re.compile(r"\[(\d{1,2})\]")
# Asked after the grounded prompt, as a turn of the customer's; the model's probability of
# replying "No" decides (SourceCheck). Sampled, the 1.5B model said "Yes" every time; its
# probability separates answerable questions from the others better than asking for the
# number of the answering source (help-centre calibration half: AUROC 0.85 against 0.80).
SOURCES_CHECK = "Do the sources above answer my question? Reply Yes or No."
CHECK_REPLIES = ("Yes", "No")
EXCERPT_CHARS = 400
# Of each source in the prompt: its evaluation is most of the wait for the first token. An
# FAQ gives the piece of its answer closest to the question when the whole is longer.
SOURCE_CHARS = 700
FAQ_SOURCE_CHARS = 400


@dataclass(frozen=True)
class AnswerPlan:
    route: str = ""  # "" (plain chat: the site has no knowledge), fast_path, grounded, no_answer
    text: str = ""  # the finished answer for fast_path and no_answer
    sources: list[dict[str, Any]] = field(default_factory=list)
    check: bool = False  # grounded: the model checks the sources first (sources_check)


def answer_plan(*, site: Site, question: str) -> AnswerPlan:
    """Decide how to answer `question` on `site`, from its own knowledge."""
    from knowledge.search import knowledge_available, knowledge_search
    from knowledge.text import answer_text

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
            "excerpt": answer_text(faq.answer)[:EXCERPT_CHARS],
        }
        return AnswerPlan(route="fast_path", text=faq.answer, sources=[source])
    if result.route == "no_answer":
        return AnswerPlan(route="no_answer", text=no_answer_text(question))
    # Only sources that pass their own threshold: a weak one invites the model to answer
    # from it anyway. One of the two kinds passed, or the route would be no_answer.
    limits = result.thresholds
    passages = [p for p in result.passages if p.similarity >= limits.passage]
    confident = result.faq_confidence >= limits.no_answer
    faqs = result.faqs[: settings.KNOWLEDGE_TOP_FAQS] if confident else []
    sources = [
        {
            "n": 0,
            "kind": "passage",
            "id": p.passage_id,
            "title": p.document_title,
            "excerpt": p.text[:SOURCE_CHARS],
        }
        for p in passages[: settings.KNOWLEDGE_TOP_PASSAGES]
    ] + [
        {"n": 0, "kind": "faq", "id": f.faq_id, "title": f.question, "excerpt": faq_excerpt(f)}
        for f in faqs
    ]
    for number, source in enumerate(sources, start=1):
        source["n"] = number
    return AnswerPlan(route="grounded", sources=sources, check=settings.KNOWLEDGE_ANSWER_CHECK)


def faq_excerpt(hit: Any) -> str:
    """What the prompt shows of an FAQ's answer (`hit`: a knowledge.search.FaqHit)."""
    from knowledge.text import answer_text

    text = answer_text(hit.answer)
    if len(text) <= FAQ_SOURCE_CHARS or not hit.piece:
        return text[:FAQ_SOURCE_CHARS]
    return str(hit.piece)


@dataclass(frozen=True)
class SourceCheck:
    """The model's probability that the sources do not answer the question, and the
    threshold it was held to (calibrated per language, see README)."""

    p_none: float
    threshold: float

    @property
    def declines(self) -> bool:
        return self.p_none >= self.threshold

    def as_json(self) -> dict[str, Any]:
        return {"p_none": round(self.p_none, 4), "threshold": self.threshold}


def language_threshold(name: str, language: str) -> float:
    """The setting `name` for answers in `language`: Chinese has its own (`name`_ZH)."""
    return float(getattr(settings, f"{name}_ZH" if language == "zh" else name))


def check_threshold(question: str) -> float:
    return language_threshold("KNOWLEDGE_CHECK_THRESHOLD", text_language(question))


def sources_check(
    backend: Backend, messages: list[ChatMessage], question: str, request_id: str
) -> SourceCheck:
    """Score the replies "Yes" and "No" to SOURCES_CHECK after the grounded answer's own
    prompt. One prompt evaluation, which llama.cpp (and vLLM's prefix cache) reuse for the
    answer that follows."""
    check: list[ChatMessage] = [*messages, {"role": "user", "content": SOURCES_CHECK}]
    yes, no = backend.score(check, list(CHECK_REPLIES), request_id)
    top = max(yes, no)
    if top == -math.inf:  # neither ranked: the check cannot say, so it keeps the answer
        return SourceCheck(0.0, check_threshold(question))
    p_no = math.exp(no - top) / (math.exp(yes - top) + math.exp(no - top))
    return SourceCheck(p_no, check_threshold(question))


# A grounded answer may still decline ("the sources do not say; shall I get a human?"), as
# the grounded prompt asks; these phrases mark that, in English and Chinese.
DECLINED = re.compile(
    r"human agent|connect you|could ?n[o']t find|can ?n[o']t find|unable to (?:find|answer)|"
    r"(?:do|does) ?n[o']t (?:contain|mention|cover|say)|not (?:mentioned|covered) in|"
    r"no information|don't have (?:any )?information|没有找到|未找到|无法回答|没有相关|人工客服",
    re.IGNORECASE,
)


def answer_declines(text: str) -> bool:
    """Whether a grounded answer says the sources do not answer: it is then a no-answer."""
    return bool(DECLINED.search(text))


def answer_grounding(text: str, sources: list[dict[str, Any]], question: str) -> float:
    """The share of the answer's words, the question's own aside, that the sources contain
    (BM25 tokens: stems, jieba words). An answer the sources do not hold restates the
    question and adds what the model made up ("Yes, you can register a .de domain", "the
    number is 12345 Cloudflare Drive"): on the help-centre sets with every grounded question
    answered, it separated out-of-scope answers from right ones far better than the source
    check (AUROC 0.92 / 0.93 in English / Chinese, against 0.80 / 0.66). 0.0 for an answer
    that only restates the question."""
    from knowledge.text import tokenize

    held = set(tokenize(" ".join(f"{s.get('title', '')} {s.get('excerpt', '')}" for s in sources)))
    asked = set(tokenize(question))
    added = [t for t in tokenize(CITATION.sub(" ", text)) if t not in asked]
    return sum(t in held for t in added) / len(added) if added else 0.0


def grounding_threshold(question: str) -> float:
    return language_threshold("KNOWLEDGE_GROUNDING_THRESHOLD", text_language(question))


def context_keep(generation: Any, key: str, value: dict[str, Any]) -> None:
    """Keep a check's figures with the generation (admin, evaluation) and log them."""
    import logging

    from chat.models import Generation

    context = {**generation.context, key: value}
    Generation.objects.filter(id=generation.id).update(context=context)
    generation.context = context
    logging.getLogger(__name__).info("generation %s %s %s", generation.id, key, value)


def answer_ungrounded(generation: Any, text: str, question: str) -> bool:
    """A finished grounded answer too little of which the sources hold (answer_grounding
    under the language's threshold): it is replaced by the no-answer reply. Checked with the
    source check (KNOWLEDGE_ANSWER_CHECK), and kept with the generation like it."""
    if not generation.context.get("check"):
        return False
    share = answer_grounding(text, generation.context.get("sources") or [], question)
    threshold = grounding_threshold(question)
    context_keep(generation, "grounding", {"share": round(share, 4), "threshold": threshold})
    return share < threshold


def no_answer_text(question: str) -> str:
    return NO_ANSWER_ZH if text_language(question) == "zh" else NO_ANSWER_EN


def sources_block(sources: list[dict[str, Any]]) -> str:
    """The numbered sources as the grounded prompt shows them to the model."""
    return "\n\n".join(f"[{s['n']}] {s['title']}\n{s['excerpt']}" for s in sources)


def sources_cited(text: str, sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sources an answer cites as [n], shortened for display; all of them if none is."""
    cited = {int(n) for n in CITATION.findall(text)}
    chosen = [s for s in sources if s["n"] in cited] or sources
    return [{**s, "excerpt": s["excerpt"][:EXCERPT_CHARS]} for s in chosen]


# --- The worker side: the chat answer's prompt and checks (chat.kinds.ChatAnswer) ---------


def chat_prompt(generation: Any, backend: Backend) -> tuple[list[ChatMessage], int]:
    """The site's system prompt (with the numbered sources of a grounded answer) and the
    newest whole turns that fit the context budget; older turns that do not fit are folded
    into a short summary of the conversation so far, so the answer keeps their facts."""
    from chat.models import Message
    from inference.prompt import prompt_fit
    from knowledge.models import PromptTemplate
    from knowledge.prompts import grounded_render, prompt_active_text

    site = generation.conversation.site
    system = prompt_active_text(site=site, kind=PromptTemplate.Kind.SYSTEM)
    sources = generation.context.get("sources") or []
    if generation.context.get("route") == "grounded" and sources:
        grounded = prompt_active_text(site=site, kind=PromptTemplate.Kind.GROUNDED)
        system = f"{system}\n\n{grounded_render(grounded, sources_block(sources))}"
    history: list[ChatMessage] = [
        {"role": m.role, "content": m.text}  # type: ignore[typeddict-item]
        for m in Message.objects.filter(
            conversation_id=generation.conversation_id, id__lt=generation.message_id
        )
        .exclude(text="")
        .order_by("created_at", "id")
    ]
    budget = settings.GENERATION_CONTEXT_TOKENS - settings.GENERATION_MAX_TOKENS - 64
    messages, dropped = prompt_fit(
        system=system, history=history, budget=budget, count_tokens=backend.count_tokens
    )
    if dropped:  # make room for the summary of what does not fit
        messages, dropped = prompt_fit(
            system=system,
            history=history,
            budget=budget - HISTORY_SUMMARY_TOKENS,
            count_tokens=backend.count_tokens,
        )
        messages = history_folded(messages, history[:dropped], backend)
    return messages, dropped


HISTORY_SUMMARY_TOKENS = 200  # of the budget, for the turns that no longer fit


def history_folded(
    messages: list[ChatMessage], dropped: list[ChatMessage], backend: Backend
) -> list[ChatMessage]:
    """`messages` with the dropped turns folded into the system prompt as an extractive
    summary within HISTORY_SUMMARY_TOKENS (no model call: it is made for every answer)."""
    from summarize.extractive import dialogue_summary

    lines = [f"{m['role']}: {m['content']}" for m in dropped]
    summary = dialogue_summary(lines, max_chars=HISTORY_SUMMARY_TOKENS * 3)
    while summary and backend.count_tokens(summary) > HISTORY_SUMMARY_TOKENS:
        summary = summary[: len(summary) * 3 // 4]
    if not summary:
        return messages
    note = f"Earlier in this conversation (summary):\n{summary}"
    first, *rest = messages
    return [{"role": "system", "content": f"{first['content']}\n\n{note}"}, *rest]


def answer_question(generation: Any) -> str:
    """The customer's message this generation answers."""
    from chat.models import Message

    question = (
        Message.objects.filter(
            conversation_id=generation.conversation_id,
            role=Message.Role.USER,
            id__lt=generation.message_id,
        )
        .order_by("-id")
        .values_list("text", flat=True)
        .first()
    )
    return question or ""


def sources_miss(generation: Any, backend: Backend, messages: list[ChatMessage]) -> bool:
    """A grounded answer whose sources, the model says, do not answer the question. The
    check's probability and threshold are kept with the generation (admin, evaluation).
    The check runs on its own engine when the settings name one (task "check"), else on
    the answer's `backend`, which then finds the prompt it scored already evaluated."""
    from chat.engine import engine_backend, task_shares_chat_engine

    if not generation.context.get("check"):
        return False
    question = messages[-1]["content"] if messages else ""
    checker = backend if task_shares_chat_engine("check") else engine_backend("check")
    check = sources_check(checker, messages, question, f"{generation.id}:check")
    context_keep(generation, "check_result", check.as_json())
    return check.declines
