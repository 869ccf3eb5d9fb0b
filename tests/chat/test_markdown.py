"""Answers shown on the chat page: Markdown rendered, HTML answers kept formatted; both safe.
And the plain text of an answer, as the model reads it."""

import pytest

from chat.markdown import markdown_render
from knowledge.text import answer_format, answer_text

HOSTILE_ANSWER = (
    '<p onclick="steal()">To return an item:</p>\n'
    '<ul style="color:red">\n'
    "  <li>Open <strong>My orders</strong></li>\n"
    '  <li>Press <a href="javascript:alert(1)">Return</a> and '
    '<a href="https://shop.example/returns" target="_blank">read the policy</a></li>\n'
    "</ul>\n"
    '<img src="x" onerror="alert(2)"><script>alert(3)</script>'
    '<iframe src="https://evil.example">frame text</iframe>\n'
    "<p>Refunds take 5&nbsp;days &amp; are paid to your card.</p>"
)


def test_an_html_answer_keeps_its_list_and_bold_without_anything_that_runs():
    html = markdown_render(HOSTILE_ANSWER)
    assert "<ul>" in html and html.count("<li>") == 2
    assert "<strong>My orders</strong>" in html
    assert '<a href="https://shop.example/returns" rel="noopener noreferrer nofollow">' in html
    for gone in ("script", "alert", "onclick", "onerror", "javascript", "style", "iframe"):
        assert gone not in html, gone
    assert "frame text" not in html and "<img" not in html and "target" not in html
    assert "&lt;" not in html  # no tag shown as text


def test_markdown_is_rendered_and_raw_html_in_it_is_not_run():
    assert markdown_render("Returns are **free**.\n\n- by card\n- by PayPal") == (
        "<p>Returns are <strong>free</strong>.</p>\n<ul>\n<li>by card</li>\n<li>by PayPal</li>\n"
        "</ul>\n"
    )
    assert markdown_render("**Hi** [x](javascript:alert(1))") == (
        "<p><strong>Hi</strong> [x](javascript:alert(1))</p>\n"  # text, not a link
    )
    html = markdown_render('**Hi** <img src=x onerror="alert(1)"><script>alert(2)</script>')
    assert html == "<p><strong>Hi</strong> </p>\n"


def test_markdown_with_a_br_or_bold_tag_shows_them_formatted():
    html = markdown_render("Open **Orders**.<br>Then press <strong>Return</strong>.")
    assert html == "<p>Open <strong>Orders</strong>.<br>Then press <strong>Return</strong>.</p>\n"
    table = markdown_render("| Card | Days |\n|---|---|\n| Visa | 5<br>or 7 |")
    assert "<td>5<br>or 7</td>" in table


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ("<p>Hello</p>", "html"),
        ("  <div>Hello</div>", "html"),
        ("Line one<br/>line two", "inline_html"),
        ("<strong>Note:</strong> returns are free.", "inline_html"),
        ("Returns are **free**.\n\n- by card", "markdown"),
        ("Use the `<div>` tag.\n\n```html\n<p>x</p>\n```", "markdown"),
        ("Enter <your email> and 3 < 5 > 2.", "markdown"),
    ],
)
def test_how_an_answer_is_written(answer, kind):
    assert answer_format(answer) == kind


def test_answer_text_of_an_html_answer_is_its_readable_text():
    assert answer_text(HOSTILE_ANSWER) == (
        "To return an item:\n\n"
        "- Open My orders\n"
        "- Press Return and read the policy\n\n"
        "Refunds take 5 days & are paid to your card."
    )
    assert answer_text("<h2>Returns</h2><p>Free.<br>Always.</p><ol><li>a</li><li>b</li></ol>") == (
        "Returns\n\nFree.\nAlways.\n\n1. a\n2. b"
    )


def test_answer_text_of_markdown_is_the_markdown():
    answer = "Returns are **free**.\n\n- by card\n- by PayPal\n\n`<p>` stays as code."
    assert answer_text(answer) == answer
    assert answer_text("Open **Orders**.<br>Then press <b>Return</b> &amp; wait.") == (
        "Open **Orders**.\nThen press Return & wait."
    )
