"""A backend and model per task: chat, the grounded answer's source check, summaries and
translations each name theirs or share the chat's; /healthz and the admin say which."""

import math
from typing import Any

import pytest

from chat.answers import sources_miss
from chat.engine import TASKS, engines_describe, task_engine
from chat.models import Generation
from inference.base import ChatMessage, Health

pytestmark = pytest.mark.django_db
JUDGE = "tests.chat.test_engine.JudgeBackend"
MESSAGES: list[ChatMessage] = [
    {"role": "system", "content": "Answer from the sources.\n\n[1] Shipping takes 3 days."},
    {"role": "user", "content": "What is the weather on Mars?"},
]


class JudgeBackend:
    """Scores "No" (none of the sources answers) far above "Yes"; remembers its calls."""

    calls: list[dict[str, Any]] = []  # one list for every instance the registry builds

    def __init__(self, **options: Any) -> None:
        self.options = options

    def score(self, messages: Any, continuations: Any, request_id: str) -> list[float]:
        JudgeBackend.calls.append({"model": self.options.get("model"), "request": request_id})
        return [-8.0, -0.01][: len(continuations)]

    def stream(self, messages: Any, params: Any, request_id: str) -> Any:
        raise AssertionError("the check only scores")

    def abort(self, request_id: str) -> None:
        return None

    def health(self) -> Health:
        return Health(ok=True, model=str(self.options.get("model", "")))

    def count_tokens(self, text: str) -> int:
        return len(text.split())


class AnswerBackend(JudgeBackend):
    """The chat's own backend in these tests: scores "Yes" above "No"."""

    def score(self, messages: Any, continuations: Any, request_id: str) -> list[float]:
        JudgeBackend.calls.append({"model": "answer", "request": request_id})
        return [-0.01, -8.0][: len(continuations)]


@pytest.fixture(autouse=True)
def no_calls() -> None:
    JudgeBackend.calls = []


@pytest.fixture
def checked(settings: Any) -> Generation:
    settings.KNOWLEDGE_CHECK_THRESHOLD = 0.5
    return Generation.objects.create(context={"check": True, "route": "grounded"})


def blank_tasks() -> dict[str, dict[str, str]]:
    return {task: {"backend": "", "model": ""} for task in TASKS if task != "chat"}


def test_every_task_shares_the_chat_engine_unless_it_names_its_own(settings: Any) -> None:
    settings.INFERENCE_TASKS = blank_tasks()
    chat = task_engine("chat")
    assert all(task_engine(task) == chat for task in TASKS)
    described = engines_describe()
    assert set(described) == {"chat", "check", "summarize", "translate"}
    model = settings.INFERENCE_OPTIONS["model"]
    assert described["chat"] == {
        "backend": "LlamaCppBackend", "model": model, "shared": "", "state": "configured"
    }  # fmt: skip
    assert all(described[t]["shared"] == "chat" for t in ("check", "summarize", "translate"))


def test_a_task_s_model_reaches_whichever_option_its_backend_reads(settings: Any) -> None:
    settings.INFERENCE_TASKS = {
        **blank_tasks(),
        "translate": {
            "backend": "inference.backends.openai_compatible.OpenAICompatibleBackend",
            "model": "qwen-14b",
        },
    }
    path, options = task_engine("translate")
    assert path.endswith("OpenAICompatibleBackend")
    assert options["model"] == options["served_model"] == options["vllm_model"] == "qwen-14b"
    translate = engines_describe()["translate"]
    assert (translate["backend"], translate["model"], translate["shared"]) == (
        "OpenAICompatibleBackend", "qwen-14b", ""
    )  # fmt: skip
    assert task_engine("chat")[1]["served_model"] == settings.INFERENCE_OPTIONS["served_model"]


def test_the_source_check_runs_on_its_own_engine_when_one_is_named(
    settings: Any, checked: Generation
) -> None:
    settings.INFERENCE_TASKS = {**blank_tasks(), "check": {"backend": JUDGE, "model": "judge-7b"}}
    # The answer's backend would keep the answer; the check's own says no source answers.
    assert sources_miss(checked, AnswerBackend(), MESSAGES) is True
    assert JudgeBackend.calls == [{"model": "judge-7b", "request": f"{checked.id}:check"}]
    checked.refresh_from_db()
    assert checked.context["check_result"]["p_none"] == pytest.approx(
        1 / (1 + math.exp(-8.0 + 0.01)), abs=1e-3
    )


def test_the_source_check_shares_the_answer_s_backend_by_default(
    settings: Any, checked: Generation
) -> None:
    settings.INFERENCE_TASKS = blank_tasks()
    assert sources_miss(checked, AnswerBackend(), MESSAGES) is False
    assert [c["model"] for c in JudgeBackend.calls] == ["answer"]


def test_healthz_names_the_engine_of_every_task(client: Any, settings: Any) -> None:
    settings.INFERENCE_TASKS = {
        **blank_tasks(),
        "summarize": {"backend": "inference.backends.transformers.TransformersBackend",
                      "model": "/srv/models/summarizer-ft"},
    }  # fmt: skip
    engines = client.get("/healthz").json()["engines"]
    assert engines["ok"]
    assert engines["tasks"]["summarize"] == {
        "backend": "TransformersBackend", "model": "summarizer-ft", "shared": ""
    }  # fmt: skip
    assert engines["tasks"]["check"]["shared"] == "chat"
    assert "/srv" not in str(engines)  # a folder is named by its last part only


def test_healthz_is_not_ok_when_a_task_names_a_backend_that_does_not_import(
    client: Any, settings: Any
) -> None:
    settings.INFERENCE_TASKS = {**blank_tasks(), "check": {"backend": "nowhere.Backend"}}
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["engines"]["ok"] is False


def test_the_admin_shows_which_engine_serves_each_task(admin_client: Any, settings: Any) -> None:
    settings.INFERENCE_TASKS = {**blank_tasks(), "translate": {"backend": JUDGE, "model": "big"}}
    listing = admin_client.get("/admin/chat/generation/")
    assert b"/admin/chat/generation/engines/" in listing.content
    page = admin_client.get("/admin/chat/generation/engines/")
    assert page.status_code == 200
    text = page.content.decode()
    for shown in ("chat", "check", "summarize", "translate", "LlamaCppBackend", "JudgeBackend"):
        assert shown in text
    assert "big" in text


def test_the_engines_page_is_for_staff_only(client: Any) -> None:
    response = client.get("/admin/chat/generation/engines/")
    assert response.status_code == 302 and "/login/" in response["Location"]
