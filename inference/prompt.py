"""Prompt assembly within a token budget."""

from collections.abc import Callable, Sequence

from inference.base import ChatMessage

OMITTED_NOTE = "(Earlier messages of this conversation were left out to fit the context.)"


def prompt_fit(
    *,
    system: str,
    history: Sequence[ChatMessage],
    budget: int,
    count_tokens: Callable[[str], int],
) -> tuple[list[ChatMessage], int]:
    """Fit the system prompt and the newest turns into `budget` tokens.

    Whole messages are dropped from the oldest end, never cut in the middle; the newest
    message is always kept. Returns the messages to send and how many were dropped.
    """
    per_message = 4  # role markers and separators of the chat template
    used = count_tokens(system) + per_message + count_tokens(OMITTED_NOTE)
    kept: list[ChatMessage] = []
    for message in reversed(history):
        cost = count_tokens(message["content"]) + per_message
        if kept and used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    # Keep the conversation starting with a user turn, as chat templates expect.
    while len(kept) > 1 and kept[0]["role"] != "user":
        kept.pop(0)
    dropped = len(history) - len(kept)
    system_text = f"{system}\n\n{OMITTED_NOTE}" if dropped else system
    return [{"role": "system", "content": system_text}, *kept], dropped


def estimate_tokens(text: str) -> int:
    """A conservative token estimate for engines whose tokenizer is remote:
    one token per CJK character, one per three other characters."""
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
    return cjk + (len(text) - cjk + 2) // 3
