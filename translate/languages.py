"""The languages translation speaks (data, not code: add a row to add one) and detection.

Detection is py3langid (its model ships in the wheel), restricted to these languages; a
text with a fair share of both Chinese characters and Latin words is reported as mixed,
with the language that dominates.
"""

import functools
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in English, as prompts name it
    native: str  # as the language names itself (pages)


LANGUAGES: dict[str, Language] = {
    "en": Language("en", "English", "English"),
    "zh": Language("zh", "Simplified Chinese", "简体中文"),
}
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
MIXED_SHARE = 0.2


@dataclass(frozen=True)
class Detection:
    language: str
    confidence: float
    mixed: bool = False


@functools.cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def language_detect(text: str) -> Detection:
    """The language of `text` among LANGUAGES (English for text without letters)."""
    sample = text[:5000]
    cjk = len(_CJK.findall(sample))
    latin = sum(len(w) for w in _LATIN_WORD.findall(sample)) / 3  # about a word a CJK char
    if cjk + latin == 0:
        return Detection("en", 0.0)
    mixed = min(cjk, latin) / (cjk + latin) >= MIXED_SHARE
    language, confidence = _identifier().classify(sample)
    if "zh" in LANGUAGES and "en" in LANGUAGES:  # langid guesses on digits: count letters
        language = "zh" if cjk >= latin else "en"
    return Detection(str(language), float(confidence), mixed)


def language_supported(code: str) -> bool:
    return code in LANGUAGES
