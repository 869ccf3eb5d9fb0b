"""Glossaries: the terms a translation must respect, given to the model and checked after."""

import re
from dataclasses import dataclass
from typing import Any

from sites.models import Site
from translate.structure import placeholder, placeholder_next


@dataclass(frozen=True)
class Term:
    source: str
    target: str  # what the translation must contain (the source itself when kept)
    keep: bool = False
    case_sensitive: bool = False

    def occurs_in(self, text: str) -> bool:
        return _term_pattern(self).search(text) is not None

    def respected_in(self, translation: str) -> bool:
        if self.case_sensitive:
            return self.target in translation
        return self.target.lower() in translation.lower()

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "keep": self.keep}


def terms_for(
    *, site: Site, source_lang: str, target_lang: str, extra: list[dict[str, Any]] | None = None
) -> list[Term]:
    """The site's terms for this direction, then the request's own (which win)."""
    from translate.models import GlossaryTerm

    terms = {
        t.source.lower(): Term(t.source, t.source if t.keep else t.target, t.keep, t.case_sensitive)
        for t in GlossaryTerm.objects.filter(
            site=site, source_lang=source_lang, target_lang=target_lang
        )
        if t.keep or t.target
    }
    for row in extra or []:
        source = str(row.get("source", "")).strip()
        keep = bool(row.get("keep"))
        target = source if keep else str(row.get("target", "")).strip()
        if source and target:
            terms[source.lower()] = Term(source, target, keep, bool(row.get("case_sensitive")))
    return sorted(terms.values(), key=lambda t: -len(t.source))


def terms_in(terms: list[Term], text: str) -> list[Term]:
    return [term for term in terms if term.occurs_in(text)]


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _term_pattern(term: Term) -> re.Pattern[str]:
    pattern = re.escape(term.source)
    if re.fullmatch(r"[\w\s.-]+", term.source, re.ASCII):  # a Latin word: whole words
        pattern = rf"(?<![A-Za-z0-9]){pattern}(?![A-Za-z0-9])"
    return re.compile(pattern, 0 if term.case_sensitive else re.IGNORECASE)


def glossary_inline(terms: list[Term], text: str) -> str:
    """The source with each term to translate already written as its target ("The 总统
    said", "我们的 President 说"): a small model copies a target-language word it finds in
    its source far more reliably than it follows a glossary in its instructions. Terms to
    keep stay as written; longer terms go first, so "United States" wins over "States"."""

    def target(term: Term, match: re.Match[str]) -> str:
        value = term.target
        if _CJK.search(value) or not _CJK.search(text):
            return value
        before = match.string[match.start() - 1 : match.start()]  # Latin inside Chinese: spaced
        after = match.string[match.end() : match.end() + 1]
        return f"{' ' if before and not before.isspace() else ''}{value}" + (
            " " if after and not after.isspace() else ""
        )

    pieces = [text]
    for term in sorted(terms_in(terms, text), key=lambda t: -len(t.source)):
        if term.keep:
            continue
        pattern = _term_pattern(term)
        # only the pieces not yet replaced (odd indexes hold targets already written)
        out: list[str] = []
        for i, piece in enumerate(pieces):
            if i % 2:
                out.append(piece)
                continue
            at = 0
            for match in pattern.finditer(piece):
                out += [piece[at : match.start()], target(term, match)]
                at = match.end()
            out.append(piece[at:])
        pieces = out
    return "".join(pieces)


def glossary_hold(terms: list[Term], text: str) -> tuple[str, dict[str, str]]:
    """The text with each of `terms` replaced by a placeholder (⟦n⟧, numbered after those
    it holds already), and the target each placeholder stands for. The model drops or
    re-translates a term for its context, but copies a placeholder."""
    held: dict[str, str] = {}
    number = placeholder_next(text)
    for term in sorted(terms, key=lambda t: -len(t.source)):
        key = placeholder(number + len(held))
        text, count = _term_pattern(term).subn(key, text)
        if count:
            held[key] = term.target
    return text, held


def glossary_apply(terms: list[Term], source: str, translation: str) -> str:
    """The translation with the terms the model left as written in the source (a small
    model keeps "Trump" or "gift card" in its Chinese) replaced by their targets."""
    for term in terms_in(terms, source):
        if term.keep or term.respected_in(translation):
            continue
        translation = _term_pattern(term).sub(term.target.replace("\\", "\\\\"), translation)
    return translation


def glossary_misses(terms: list[Term], pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The terms a (source, translation) pair did not respect, each once per segment."""
    misses = []
    for source, translation in pairs:
        for term in terms_in(terms, source):
            if not term.respected_in(translation):
                misses.append(
                    {"term": term.source, "expected": term.target, "segment": source[:200]}
                )
    return misses


def glossary_validate(value: Any) -> list[dict[str, Any]]:
    """A request's glossary: a list of {"source", "target"} or {"source", "keep": true}."""
    if value in (None, ""):
        return []
    if not isinstance(value, list) or len(value) > 500:
        raise ValueError("'glossary' must be a list of at most 500 terms.")
    clean = []
    for row in value:
        if not isinstance(row, dict) or not isinstance(row.get("source"), str):
            raise ValueError("Each glossary term needs a 'source' string.")
        if not row.get("keep") and not isinstance(row.get("target"), str):
            raise ValueError("Each glossary term needs a 'target' string, or 'keep': true.")
        clean.append(
            {
                "source": row["source"][:200],
                "target": str(row.get("target", ""))[:200],
                "keep": bool(row.get("keep")),
                "case_sensitive": bool(row.get("case_sensitive")),
            }
        )
    return clean
