"""Tokens never reach the logs, whatever writes them."""

import logging

from webapp.logs import TokenRedaction, tokens_redacted


def test_a_token_in_a_logged_url_is_redacted(caplog):
    url = "/ws/conversations/42/?token=abc.DEF-ghi:jkl&after=3"
    assert tokens_redacted(url) == "/ws/conversations/42/?token=[redacted]&after=3"
    logger = logging.getLogger("tests.logs")
    logger.addFilter(TokenRedaction())
    with caplog.at_level(logging.INFO, logger="tests.logs"):
        logger.info("socket %s refused", url)
    assert "abc.DEF" not in caplog.text and "token=[redacted]" in caplog.text


def test_the_console_handler_redacts():
    from django.conf import settings

    logging_config: dict = settings.LOGGING
    assert "tokens" in logging_config["handlers"]["console"]["filters"]
