"""Translation: detection, structure kept, the glossary's check, the pipeline with the
packaged small model, and the API's errors (nothing stored)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from chat.engine import engine_backend
from chat.models import GenerationStep
from chat.runner import generation_execute
from inference.base import BackendError
from sites.services import site_default_ensure
from tests.factories import SiteFactory
from translate.admin import glossary_csv_import
from translate.glossary import Term, glossary_misses, terms_for
from translate.languages import language_detect
from translate.models import Translation
from translate.services import translation_create
from translate.structure import document_parse

URL = "/api/v1/translations"


def test_detection_of_chinese_english_and_mixed_text():
    assert language_detect("Where is my parcel? It was due on Monday.").language == "en"
    assert language_detect("我的包裹在哪里？本来周一应该到的。").language == "zh"
    mixed = language_detect("我的 iPhone 15 Pro 屏幕坏了, can you help me fix the screen?")
    assert mixed.mixed
    assert language_detect("我的订单 12345 还没到").language == "zh"  # digits do not count


def test_markdown_and_html_keep_their_structure():
    markdown = (
        "# Returns\n\nReturn it within **30 days**, see [our page](https://shop.test/r) "
        "or `/returns`.\n\n- Print the label\n- Drop it off\n\n```\nkeep this code\n```\n"
    )
    document = document_parse(markdown, "markdown")
    assert document.segments[0] == "Returns"
    assert "https://shop.test/r" not in document.segments[1]  # protected from the model
    rebuilt = document.rebuild([f"<{s}>" for s in document.segments])
    assert rebuilt.startswith("# <Returns>\n\n")
    assert "(https://shop.test/r)" in rebuilt and "`/returns`" in rebuilt
    assert "- <Print the label>\n- <Drop it off>" in rebuilt
    assert "```\nkeep this code\n```" in rebuilt
    html = '<h2>Returns</h2><p>Within <b>30 days</b>, <a href="/r">here</a>.</p><pre>x = 1</pre>'
    document = document_parse(html, "html")
    assert "x = 1" not in document.segments  # code is not translated
    rebuilt = document.rebuild([s.upper() for s in document.segments])
    assert rebuilt.startswith("<h2>RETURNS</h2><p>WITHIN <b>30 DAYS</b>")
    assert '<a href="/r">HERE</a>' in rebuilt and "<pre>x = 1</pre>" in rebuilt


@pytest.mark.django_db
def test_the_glossary_is_checked_and_misses_are_reported():
    site = SiteFactory.create()
    glossary_csv_import(
        site=site,
        data="source_lang,target_lang,source,target,keep\nen,zh,gift card,礼品卡,\n"
        "en,zh,Helpline,,yes\n".encode(),
    )
    terms = terms_for(site=site, source_lang="en", target_lang="zh")
    assert {t.source for t in terms} == {"gift card", "Helpline"}
    pairs = [
        ("Your Gift Card works with Helpline.", "您的礼品卡可以在 Helpline 使用。"),
        ("A gift card never expires.", "购物卡永不过期。"),
        ("Ask Helpline.", "问帮助热线。"),
    ]
    misses = glossary_misses(terms, pairs)
    assert [(m["term"], m["expected"]) for m in misses] == [
        ("gift card", "礼品卡"),
        ("Helpline", "Helpline"),
    ]
    assert not Term("card", "卡").occurs_in("discard it")  # whole words only
    with pytest.raises(ValueError, match="Row 2"):
        glossary_csv_import(site=site, data=b"source_lang,target_lang,source,target\nen,zh,,x\n")


@pytest.mark.django_db
def test_a_short_text_streams_in_one_step_and_keeps_the_direction():
    translation = translation_create(
        site=site_default_ensure(), text="您的订单已经发货。", target_lang="en"
    )
    assert (translation.source_lang, translation.detected_lang) == ("zh", "zh")
    generation_execute(str(translation.generation_id))
    translation.refresh_from_db()
    assert translation.status == "done" and translation.text
    assert not GenerationStep.objects.filter(generation__translation=translation).exists()


@pytest.mark.django_db
@override_settings(SUMMARY_STEPS_INLINE=True)
def test_a_markdown_document_is_translated_segment_by_segment_into_its_markup():
    markdown = "# Returns\n\nPrint the label.\n\n- Drop it off\n- Wait for the refund"
    translation = translation_create(
        site=site_default_ensure(), text=markdown, target_lang="zh", format="markdown"
    )
    for _ in range(3):
        generation_execute(str(translation.generation_id))
    translation.refresh_from_db()
    assert translation.status == "done"
    steps = GenerationStep.objects.filter(generation__translation=translation)
    assert steps.count() == 4 and all(s.done_at for s in steps)
    lines = translation.text.split("\n")
    assert lines[0].startswith("# ") and lines[1] == ""
    assert lines[4].startswith("- ") and lines[5].startswith("- ")


@pytest.mark.django_db
@override_settings(SUMMARY_STEPS_INLINE=True)
def test_a_segment_the_model_fails_on_keeps_its_source_and_the_rest_goes_on(monkeypatch):
    backend = engine_backend()
    real = type(backend).stream
    calls = {"n": 0}

    def flaky(self, messages, params, request_id):
        calls["n"] += 1
        if calls["n"] == 2:
            raise BackendError("backend_unavailable", "down for a moment")
        yield from real(self, messages, params, request_id)

    monkeypatch.setattr(type(backend), "stream", flaky)
    translation = translation_create(
        site=site_default_ensure(), text="# Title\n\nFirst.\n\nSecond.", target_lang="zh",
        format="markdown",
    )  # fmt: skip
    for _ in range(3):
        generation_execute(str(translation.generation_id))
    translation.refresh_from_db()
    assert translation.status == "done"
    assert "First." in translation.text  # the failed segment, as written
    assert (
        GenerationStep.objects.filter(
            generation__translation=translation, method="fallback"
        ).count()
        == 1
    )


def post(client, body, site):
    return client.post(
        URL, data=json.dumps(body), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {site.secret_key}",
    )  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"text": "Hello", "target_lang": "fr"}, "unsupported_language"),
        ({"text": "Hello", "target_lang": "zh", "source_lang": "de"}, "unsupported_language"),
        ({"text": "  ", "target_lang": "zh"}, "empty_text"),
        ({"text": "Hello there", "target_lang": "en"}, "same_language"),
        ({"text": "Hello", "target_lang": "zh", "glossary": [{"target": "x"}]}, "invalid_glossary"),
        ({"text": "Hello", "target_lang": "zh", "format": "pdf"}, "invalid_field"),
    ],
)
def test_bad_requests_get_400_and_nothing_is_stored(client, body, code):
    response = post(client, body, SiteFactory.create())
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert not Translation.objects.exists()


@pytest.mark.django_db
def test_the_api_starts_a_job_and_reads_it_back(client):
    site = SiteFactory.create()
    assert client.post(URL, data="{}", content_type="application/json").status_code == 401
    response = post(client, {"text": "Where is my parcel?", "target_lang": "zh"}, site)
    assert response.status_code == 202
    job = response.json()
    assert job["ws_url"].startswith("/ws/jobs/") and job["source_lang"] == "en"
    detail = client.get(f"{URL}/{job['id']}", HTTP_AUTHORIZATION=f"Bearer {site.secret_key}")
    assert detail.json()["status"] == "queued" and detail.json()["glossary_misses"] == []


@pytest.mark.django_db
def test_broken_and_unsupported_files_get_400(client):
    site = SiteFactory.create()
    for name, data in [
        ("broken.pdf", b"%PDF-1.4 no"),
        ("x.png", b"\x89PNG"),
        ("bad.txt", b"\xff\xfe\x00bad"),
        ("broken.docx", b"PK\x03\x04 not a Word file"),
    ]:
        response = client.post(
            URL, data={"file": SimpleUploadedFile(name, data), "target_lang": "zh"},
            HTTP_AUTHORIZATION=f"Bearer {site.secret_key}",
        )  # fmt: skip
        assert response.status_code == 400, name
        assert response.json()["error"]["code"] == "unreadable_file"
    assert not Translation.objects.exists()
    html = b"<p>Return it within <b>30 days</b>.</p>"
    response = client.post(
        URL, data={"file": SimpleUploadedFile("policy.html", html), "target_lang": "zh"},
        HTTP_AUTHORIZATION=f"Bearer {site.secret_key}",
    )  # fmt: skip
    assert response.status_code == 202 and response.json()["format"] == "html"


@pytest.mark.django_db
def test_the_admin_conversation_page_shows_translations_and_a_reply_box(client):
    from chat.models import Message
    from tests.factories import ConversationFactory, UserFactory

    conversation = ConversationFactory.create()
    Message.objects.create(
        conversation=conversation, role="user", text="我的包裹在哪里？", language="zh",
        translation="Where is my parcel?", translation_language="en",
    )  # fmt: skip
    Message.objects.create(
        conversation=conversation, role="agent", text="明天发货。", original="It ships tomorrow.",
        language="zh",
    )  # fmt: skip
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    page = client.get(f"/admin/chat/conversation/{conversation.id}/change/").content.decode()
    assert 'aria-label="Reply"' in page and "Send reply" in page
    assert "Where is my parcel?" in page and "我的包裹在哪里？" in page  # translation, original
    assert "It ships tomorrow." in page and "明天发货。" in page


class ShoutingBackend:
    """A second engine, to see that a task's own settings route its work there."""

    def __init__(self, **options):
        self.options = options

    def stream(self, messages, params, request_id):
        from inference.base import Delta, Usage

        yield Delta(text=messages[-1]["content"].upper())
        yield Delta(usage=Usage(prompt_tokens=1, completion_tokens=1), finish_reason="stop")

    def score(self, messages, replies, request_id):
        return [0.0 for _ in replies]

    def abort(self, request_id):
        return None

    def health(self):
        from inference.base import Health

        return Health(ok=True, model=self.options.get("model", ""))

    def count_tokens(self, text):
        return len(text.split())


@pytest.mark.django_db
def test_a_task_with_its_own_backend_and_model_is_served_by_it(settings):
    from chat.engine import engine_backend, task_engine

    settings.INFERENCE_TASKS = {
        "translate": {"backend": "tests.translate.test_translate.ShoutingBackend", "model": "big"}
    }
    assert task_engine("translate")[1]["model"] == "big"
    assert isinstance(engine_backend("translate"), ShoutingBackend)
    assert not isinstance(engine_backend(), ShoutingBackend)  # the chat keeps its own
    translation = translation_create(
        site=site_default_ensure(), text="where is my parcel", target_lang="zh"
    )
    generation_execute(str(translation.generation_id))
    translation.refresh_from_db()
    assert translation.text == "WHERE IS MY PARCEL"


def test_terms_left_as_written_are_replaced_by_their_targets():
    from translate.glossary import glossary_apply

    terms = [Term("gift card", "礼品卡"), Term("Helpline", "Helpline", keep=True)]
    assert glossary_apply(
        terms, "A gift card from Helpline.", "一张 Gift Card 来自 Helpline。"
    ) == ("一张 礼品卡 来自 Helpline。")
    assert glossary_apply(terms, "No terms here.", "这里没有术语。") == "这里没有术语。"


def test_terms_are_written_into_the_source_in_the_target_language():
    from translate.glossary import glossary_inline

    terms = [
        Term("United States", "美国"), Term("States", "州"), Term("president", "总统"),
        Term("Facebook", "Facebook", keep=True),
    ]  # fmt: skip
    assert glossary_inline(terms, "The President of the United States posted on Facebook.") == (
        "The 总统 of the 美国 posted on Facebook."
    )
    assert glossary_inline([Term("总统", "President")], "我们的总统说：好。") == (
        "我们的 President 说：好。"
    )
    assert glossary_inline(terms, "Nothing to change.") == "Nothing to change."


def _word_file() -> bytes:
    import io

    import docx

    document = docx.Document()
    document.add_heading("Returns", level=1)
    paragraph = document.add_paragraph()
    paragraph.add_run("Print the label").bold = True
    paragraph.add_run(" and drop the parcel off.")
    document.add_paragraph("")  # an empty paragraph stays empty
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Refund"
    table.cell(0, 1).text = "Within five days."
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.mark.django_db
@override_settings(SUMMARY_STEPS_INLINE=True)
def test_a_word_file_comes_back_as_a_word_file_with_its_styles(client):
    import io

    import docx

    site = SiteFactory.create()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {site.secret_key}"}
    upload = SimpleUploadedFile("returns.docx", _word_file())
    response = client.post(URL, data={"file": upload, "target_lang": "zh"}, **auth)
    assert response.status_code == 202
    job = response.json()
    assert job["format"] == "docx" and job["download"] == "docx"
    assert client.get(job["file_url"], **auth).status_code == 409  # not finished yet
    for _ in range(3):
        generation_execute(job["generation_id"])
    translation = Translation.objects.get(id=job["id"])
    assert translation.status == "done"
    assert translation.source_text.split("\n\n") == [
        "Returns", "Print the label and drop the parcel off.", "Refund", "Within five days.",
    ]  # fmt: skip
    response = client.get(job["file_url"], **auth)
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith("returns.zh.docx")
    back = docx.Document(io.BytesIO(response.content))
    paragraphs = back.paragraphs
    style = paragraphs[0].style
    assert style is not None and style.name == "Heading 1" and paragraphs[0].text
    assert paragraphs[1].runs[0].bold  # the first run keeps its style and takes the text
    assert paragraphs[1].text == translation.text.split("\n\n")[1]
    assert paragraphs[2].text == ""
    cells = [back.tables[0].cell(0, i).text for i in range(2)]
    assert cells == translation.text.split("\n\n")[2:]
    assert client.get(job["file_url"]).status_code == 401  # no credential, no file


@pytest.mark.django_db
def test_a_visitors_translation_is_queued_ahead_of_the_answer(
    monkeypatch, django_capture_on_commit_callbacks
):
    import chat.services
    import translate.live
    from chat.services import conversation_create, message_post
    from translate.live import staff_watch

    sent: list[str] = []
    record = lambda generation_id, kind="chat": sent.append(kind)  # noqa: E731
    monkeypatch.setattr(chat.services, "generation_schedule", record)
    monkeypatch.setattr(translate.live, "generation_schedule", record)
    conversation = conversation_create(site=SiteFactory.create(staff_language="en"))
    staff_watch(conversation)  # staff opened it
    with django_capture_on_commit_callbacks(execute=True):
        message_post(conversation=conversation, text="我的订单什么时候发货？")
    assert sent == ["message_translation", "chat"]  # staff read it before the answer is done


class ScriptedBackend:
    """Replies with the next of its texts, and keeps the asks it was given."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.asks: list[str] = []

    def stream(self, messages, params, request_id):
        from inference.base import Delta

        self.asks.append(messages[-1]["content"])
        yield Delta(text=self.replies.pop(0))


def test_a_translation_that_missed_a_term_is_asked_again_with_a_placeholder_for_it():
    from typing import cast

    from inference.base import Backend
    from translate.kinds import glossary_repair

    terms = [Term("president", "总统"), Term("market", "市场")]
    source = "The president spoke about the market."

    def repair(backend: ScriptedBackend, translation: str, text: str = source) -> str:
        return glossary_repair(cast(Backend, backend), terms, text, translation,
                               source_lang="en", target_lang="zh", request_id="t")  # fmt: skip

    backend = ScriptedBackend("⟦0⟧谈到了市场。")  # the model copies the placeholder
    assert repair(backend, "他谈到了市场。") == "总统谈到了市场。"
    # the missed term is a placeholder in the ask; the one respected is still written in
    assert backend.asks == [backend.asks[0]] and backend.asks[0].endswith(
        ": The ⟦0⟧ spoke about the 市场."
    )
    dropped = ScriptedBackend("他谈到了。", "他谈到了。", "他谈到了。")  # each ask drops it
    assert repair(dropped, "他谈到了市场。") == "他谈到了市场。"  # the first is kept
    assert len(dropped.asks) == 3  # greedy, then two sampled
    rewritten = ScriptedBackend("【0】谈到了市场。")  # the model rewrote the brackets
    assert repair(rewritten, "他谈到了市场。") == "总统谈到了市场。"
    untouched = ScriptedBackend()
    assert repair(untouched, "总统谈到了市场。") == "总统谈到了市场。"
    assert untouched.asks == []  # nothing missed: no second call
    # a Markdown segment's own placeholders (a link target) keep their numbers
    linked = ScriptedBackend("⟦1⟧在[市场](⟦0⟧)讲话。")
    fixed = repair(linked, "他在[市场](⟦0⟧)讲话。", "The president spoke at [the market](⟦0⟧).")
    assert fixed == "总统在[市场](⟦0⟧)讲话。"
    assert "The ⟦1⟧ spoke" in linked.asks[0]


def test_a_term_the_repair_could_not_place_is_still_reported():
    from typing import cast

    from inference.base import Backend
    from translate.kinds import glossary_repair

    terms = [Term("president", "总统"), Term("court", "法院")]
    source = "The president went to court."
    # one placeholder copied and one re-translated; then worse, then no better
    backend = ScriptedBackend("⟦0⟧去了法庭。", "主席去了法庭。", "⟦0⟧去了法庭。")
    text = glossary_repair(cast(Backend, backend), terms, source, "主席去了法庭。",
                           source_lang="en", target_lang="zh", request_id="t")  # fmt: skip
    assert text == "总统去了法庭。"
    assert [m["term"] for m in glossary_misses(terms, [(source, text)])] == ["court"]
