"""The Conversations and background Responses tables (``gateway.models.conversations``):
each row reads as its id (an item as its item id, an event as response#sequence); an
item is once per conversation and an event once per sequence number."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from gateway.models import BackgroundEvent, BackgroundResponse, Conversation, ConversationItem

pytestmark = pytest.mark.django_db


def test_a_conversation_holds_each_item_once_in_the_order_added() -> None:
    conv = Conversation.objects.create(id="conv_1")
    first = ConversationItem.objects.create(conversation=conv, item_id="msg_a", item={})
    second = ConversationItem.objects.create(conversation=conv, item_id="msg_b", item={})
    assert (str(conv), str(first)) == ("conv_1", "msg_a")
    assert second.seq > first.seq
    assert conv.metadata == {}
    with pytest.raises(IntegrityError), transaction.atomic():
        ConversationItem.objects.create(conversation=conv, item_id="msg_a", item={})


def test_a_background_response_stores_each_event_once_by_sequence() -> None:
    response = BackgroundResponse.objects.create(id="resp_1", body={})
    assert response.status == "queued" and response.status in BackgroundResponse.UNFINISHED
    event = BackgroundEvent.objects.create(response=response, sequence=0, data="{}")
    assert (str(response), str(event)) == ("resp_1", "resp_1#0")
    with pytest.raises(IntegrityError), transaction.atomic():
        BackgroundEvent.objects.create(response=response, sequence=0, data="{}")
