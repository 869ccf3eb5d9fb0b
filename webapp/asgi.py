import logging
import os
import threading

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402
from console.routing import websocket_urlpatterns as console_websocket_urlpatterns  # noqa: E402


def _knowledge_warm() -> None:
    # The encoder and jieba load in seconds: do it now, not in a customer's first question.
    from knowledge.search import knowledge_warm

    try:
        knowledge_warm()
    except Exception:
        logging.getLogger(__name__).exception("could not warm the knowledge search")


threading.Thread(target=_knowledge_warm, name="knowledge-warm", daemon=True).start()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(
            URLRouter(websocket_urlpatterns + console_websocket_urlpatterns)
        ),
    }
)
