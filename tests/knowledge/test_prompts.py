"""Prompt versions: numbering, activation and rollback, validation, preview."""

import pytest
from django.core.exceptions import ValidationError

from knowledge.models import PromptTemplate
from knowledge.prompts import (
    GROUNDED_PROMPT_DEFAULT,
    SYSTEM_PROMPT_DEFAULT,
    prompt_activate,
    prompt_active_text,
    prompt_deactivate,
    prompt_preview,
    prompt_text_validate,
    prompt_version_create,
)
from tests.factories import SiteFactory, UserFactory

pytestmark = pytest.mark.django_db
SYSTEM, GROUNDED = PromptTemplate.Kind.SYSTEM, PromptTemplate.Kind.GROUNDED


def test_versions_are_numbered_per_site_and_kind():
    site, other = SiteFactory.create(), SiteFactory.create()
    user = UserFactory.create()
    first = prompt_version_create(site=site, kind=SYSTEM, text="Be brief.", user=user)
    second = prompt_version_create(site=site, kind=SYSTEM, text="Be brief and kind.")
    grounded = prompt_version_create(site=site, kind=GROUNDED, text="Use:\n{sources}")
    elsewhere = prompt_version_create(site=other, kind=SYSTEM, text="Hello.")
    assert [first.version, second.version, grounded.version, elsewhere.version] == [1, 2, 1, 1]
    assert first.created_by == user and second.created_by is None
    assert not any(t.active for t in (first, second, grounded, elsewhere))


def test_the_default_is_used_until_a_version_is_activated():
    site = SiteFactory.create()
    assert prompt_active_text(site=site, kind=SYSTEM) == SYSTEM_PROMPT_DEFAULT
    assert prompt_active_text(site=site, kind=GROUNDED) == GROUNDED_PROMPT_DEFAULT
    prompt_version_create(site=site, kind=SYSTEM, text="Not active yet.")
    assert prompt_active_text(site=site, kind=SYSTEM) == SYSTEM_PROMPT_DEFAULT
    prompt_version_create(site=site, kind=SYSTEM, text="Active now.", activate=True)
    assert prompt_active_text(site=site, kind=SYSTEM) == "Active now."
    assert prompt_active_text(site=SiteFactory.create(), kind=SYSTEM) == SYSTEM_PROMPT_DEFAULT


def test_activate_keeps_one_active_version_and_rolls_back():
    site = SiteFactory.create()
    v1 = prompt_version_create(site=site, kind=SYSTEM, text="Version one.", activate=True)
    v2 = prompt_version_create(site=site, kind=SYSTEM, text="Version two.", activate=True)
    grounded = prompt_version_create(site=site, kind=GROUNDED, text="{sources}", activate=True)
    active = PromptTemplate.objects.filter(site=site, active=True)
    assert set(active.values_list("id", flat=True)) == {v2.id, grounded.id}
    prompt_activate(template=v1)  # the rollback
    assert set(active.values_list("id", flat=True)) == {v1.id, grounded.id}
    assert prompt_active_text(site=site, kind=SYSTEM) == "Version one."
    assert PromptTemplate.objects.get(id=v2.id).text == "Version two."  # kept for later
    prompt_deactivate(site=site, kind=SYSTEM)
    assert prompt_active_text(site=site, kind=SYSTEM) == SYSTEM_PROMPT_DEFAULT
    assert prompt_active_text(site=site, kind=GROUNDED) == "{sources}"


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        (GROUNDED, "Answer from the sources.", "does not contain it"),
        (GROUNDED, "{sources} and again {sources}", "contains it 2 times"),
        (GROUNDED, "Question: {question}\n{sources}", "Unknown placeholder {question}"),
        (SYSTEM, "Be kind. {sources}", "belongs in the grounded prompt"),
        (SYSTEM, "   ", "empty"),
        ("tone", "Be kind.", "Unknown prompt kind"),
    ],
)
def test_invalid_templates_are_refused_with_the_reason(kind, text, message):
    site = SiteFactory.create()
    with pytest.raises(ValidationError, match=message):
        prompt_version_create(site=site, kind=kind, text=text)
    assert not PromptTemplate.objects.filter(site=site).exists()


def test_literal_braces_are_allowed():
    text = 'Reply as JSON like {"answer": "..."} using:\n{sources}'
    assert prompt_text_validate(kind=GROUNDED, text=f"  {text}\r\n") == text


def test_the_default_grounded_prompt_says_what_a_grounded_answer_must_do():
    text = prompt_text_validate(kind=GROUNDED, text=GROUNDED_PROMPT_DEFAULT)
    assert text.count("{sources}") == 1
    for promise in ("only the numbered sources", "[1]", "[2]", "language", "human agent"):
        assert promise in text


def test_preview_of_a_system_prompt_without_sources_is_a_plain_chat():
    site = SiteFactory.create()
    messages = prompt_preview(
        site=site, kind=SYSTEM, text="You sell bikes.", question="Hi?", sources=[]
    )
    assert messages == [
        {"role": "system", "content": "You sell bikes."},
        {"role": "user", "content": "Hi?"},
    ]


def test_preview_of_a_grounded_prompt_numbers_the_sources_after_the_active_system_prompt():
    site = SiteFactory.create()
    prompt_version_create(site=site, kind=SYSTEM, text="You sell bikes.", activate=True)
    messages = prompt_preview(
        site=site,
        kind=GROUNDED,
        text="Answer from these, citing [n]:\n{sources}",
        question="How long do refunds take?",
        sources=["Refunds take 5 days.", "  ", "Returns are free."],
    )
    assert messages[0]["content"] == (
        "You sell bikes.\n\nAnswer from these, citing [n]:\n"
        "[1] Refunds take 5 days.\n\n[2] Returns are free."
    )
    assert messages[1] == {"role": "user", "content": "How long do refunds take?"}


def test_preview_of_a_system_prompt_with_sources_uses_the_active_grounded_prompt():
    site = SiteFactory.create()
    messages = prompt_preview(
        site=site, kind=SYSTEM, text="Be brief.", question="?", sources=["Open 9-5."]
    )
    expected = GROUNDED_PROMPT_DEFAULT.replace("{sources}", "[1] Open 9-5.")
    assert messages[0]["content"] == f"Be brief.\n\n{expected}"


def test_preview_refuses_an_invalid_template():
    with pytest.raises(ValidationError):
        prompt_preview(
            site=SiteFactory.create(), kind=GROUNDED, text="no slot", question="?", sources=[]
        )
