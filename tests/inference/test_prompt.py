from inference.base import ChatMessage
from inference.prompt import OMITTED_NOTE, estimate_tokens, prompt_fit


def words(text: str) -> int:
    return len(text.split())


def turn(role: str, n: int, tag: str) -> ChatMessage:
    return {"role": role, "content": " ".join([tag] * n)}  # type: ignore[typeddict-item]


def test_everything_fits_nothing_is_dropped() -> None:
    history = [turn("user", 5, "q1"), turn("assistant", 5, "a1"), turn("user", 5, "q2")]
    messages, dropped = prompt_fit(
        system="be nice", history=history, budget=1000, count_tokens=words
    )
    assert dropped == 0
    assert messages[0] == {"role": "system", "content": "be nice"}
    assert messages[1:] == history


def test_oldest_whole_turns_are_dropped_and_the_model_is_told() -> None:
    history = [
        turn("user", 50, "old"),
        turn("assistant", 50, "old"),
        turn("user", 10, "q2"),
        turn("assistant", 10, "a2"),
        turn("user", 10, "q3"),
    ]
    messages, dropped = prompt_fit(system="sys", history=history, budget=60, count_tokens=words)
    assert dropped == 2
    assert [m["content"] for m in messages[1:]] == [m["content"] for m in history[2:]]
    assert OMITTED_NOTE in messages[0]["content"]
    # No message is cut: every kept one is whole.
    assert all(m in history for m in messages[1:])


def test_kept_history_starts_with_a_user_turn() -> None:
    history = [turn("user", 30, "q1"), turn("assistant", 5, "a1"), turn("user", 5, "q2")]
    messages, dropped = prompt_fit(system="s", history=history, budget=30, count_tokens=words)
    assert messages[1]["role"] == "user"
    assert dropped == 2


def test_the_newest_message_is_kept_even_over_budget() -> None:
    history = [turn("user", 500, "huge")]
    messages, dropped = prompt_fit(system="s", history=history, budget=10, count_tokens=words)
    assert dropped == 0
    assert messages[-1] == history[0]


def test_token_estimate_counts_chinese_characters_one_each() -> None:
    assert estimate_tokens("你好世界") == 4
    assert 3 <= estimate_tokens("hello world!") <= 5
