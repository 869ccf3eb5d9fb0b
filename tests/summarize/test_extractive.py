from summarize.extractive import (
    dialogue_summary,
    extractive_summary,
    language_of,
    lead_summary,
    sentences_split,
)


def test_chinese_and_english_sentences_are_split():
    assert sentences_split("第一句。第二句！第三句？") == ["第一句。", "第二句！", "第三句？"]
    assert sentences_split("One thing. Another one! A third?") == [
        "One thing.",
        "Another one!",
        "A third?",
    ]
    assert sentences_split("Price 4.95 pounds. Done.") == ["Price 4.95 pounds.", "Done."]


def test_the_central_sentences_are_kept_in_text_order_without_repeats():
    text = (
        "The kettle arrived broken. The weather was nice. The broken kettle was refunded. "
        "The kettle arrived broken. A new kettle was sent on Friday."
    )
    summary = extractive_summary(text, max_sentences=2)
    assert summary.count("The kettle arrived broken.") <= 1
    assert "weather" not in summary
    assert len(sentences_split(summary)) == 2


def test_a_dialogue_keeps_whole_turns_and_facts():
    turns = [
        "Customer: My order 4471 is late.",
        "Agent: Sorry!",
        "Agent: Sorry!",
        "Customer: Thanks.",
    ]
    summary = dialogue_summary(turns, max_sentences=2)
    assert "Customer: My order 4471 is late." in summary.splitlines()


def test_language_and_lead():
    assert language_of("你好，我的订单在哪里？") == "zh" and language_of("Where is it?") == "en"
    assert lead_summary("Ab. Be here. Ce there. De too.", n=2) == "Ab. Be here."
