import pytest

from sites.services import site_default_ensure
from summarize.models import Summary
from summarize.services import summary_create

# About 1,000 tokens of a support article, paragraphs of facts: over the tests'
# SUMMARY_CHUNK_TOKENS (300), so it is summarized in chunks.
PARAGRAPHS = [
    "Orders placed before 2 pm on a working day leave our warehouse in Leeds the same day. "
    "Standard delivery takes three to five working days and costs 4.95 pounds; it is free "
    "for orders over 50 pounds. Express delivery arrives the next working day for 9.95 pounds.",
    "You can return any item within 30 days of delivery. Print the prepaid label from your "
    "account, pack the item in its original box and drop it at any post office. Refunds "
    "reach your card within five working days after the parcel arrives back in Leeds.",
    "Gift cards are sold in values from 10 to 200 pounds and never expire. They can be used "
    "together with a discount code, but a gift card cannot pay for another gift card. A lost "
    "gift card can be blocked by calling 0800 123 456 with its number.",
    "Our customer service team answers the phone from 8 am to 8 pm on weekdays and from 9 am "
    "to 5 pm on Saturdays. Chat is open around the clock. Emails are answered within one "
    "working day; complaints are escalated to a team lead within 48 hours.",
]
LONG_TEXT = "\n\n".join(PARAGRAPHS * 2)


@pytest.fixture
def long_summary() -> Summary:
    return summary_create(site=site_default_ensure(), text=LONG_TEXT)
