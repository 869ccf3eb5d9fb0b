"""The pages a visitor sees, in English and Simplified Chinese, every text translated."""

import json
import re
from pathlib import Path

import pytest

from tests.factories import UserFactory

PO = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_every_text_has_its_chinese_translation():
    entries = re.findall(r'^msgid ((?:".*"\n)+)msgstr ((?:".*"\n)+)', PO.read_text(), re.M)
    untranslated = [
        msgid for msgid, msgstr in entries[1:] if not "".join(msgstr.split('"')).strip()
    ]
    assert len(entries) > 40 and untranslated == []
    assert "#, fuzzy" not in PO.read_text()


@pytest.fixture(autouse=True)
def _language_reset():
    """A request in Chinese leaves Chinese active in this thread: later tests get English."""
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.mark.django_db
def test_the_chat_page_speaks_the_visitors_language(client):
    from chat.services import conversation_create
    from sites.services import site_default_ensure

    user = UserFactory.create()
    client.force_login(user)
    conversation = conversation_create(site=site_default_ensure(), owner=user)
    chinese = client.get(f"/c/{conversation.id}/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    html = chinese.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "发送" in html and "有什么问题都可以问" in html
    found = re.search(r'id="chat-texts"[^>]*>(.*?)</script>', html)
    assert found is not None
    texts = json.loads(found.group(1))
    assert texts["reconnecting"] == "连接已断开，正在重新连接…"  # what the page's script writes
    assert ">Send<" not in html
    english = client.get(f"/c/{conversation.id}/", HTTP_ACCEPT_LANGUAGE="en")
    assert ">Send<" in english.content.decode()
    login = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert "用户名" in login.content.decode()
