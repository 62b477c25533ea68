"""The Sinch block of the tenants file: per-channel allow-lists and the fields each channel gets."""

from __future__ import annotations

import pytest

from service.platforms.sinch_contact_pro.settings import SinchContactProSettings
from service.tenants import ConfigError, parse_tenants

ENV = {"GLOBEX_SINCH_PASSWORD": "pw"}


def tenant_yaml(sinch_extra: str = "", chat: str = "[Sentiment]") -> str:
    return f"""\
tenants:
  globex:
    platform: sinch-contact-pro
    sinch-contact-pro:
      base_url: https://globex.cc.sinch.com
      username: enricher-api
      password: ${{GLOBEX_SINCH_PASSWORD}}
      extra_data_for_history:
        voice: [Sentiment, SentimentScore, CaseNumber]
        chat: {chat}
{sinch_extra}    fields:
      Sentiment: {{from: sentiment.label}}
      SentimentScore: {{from: sentiment.score, type: number}}
      CaseNumber: {{from: case_number, type: string}}
"""


def sinch(text: str) -> SinchContactProSettings:
    block = parse_tenants(text, environ=ENV).tenants["globex"].settings
    assert isinstance(block, SinchContactProSettings)
    return block


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_tenants(text, source="t.yaml", environ=ENV)
    return [p.render("t.yaml") for p in caught.value.problems]


def test_an_existing_file_loads_unchanged_and_writes_every_field_on_every_channel() -> None:
    block = sinch(tenant_yaml(chat='["*"]'))
    assert block.fields_by_channel == {}
    for channel in ("voice", "chat"):
        for name in ("Sentiment", "SentimentScore", "CaseNumber"):
            assert block.writes(name, channel)


def test_a_narrower_chat_list_alone_is_refused_and_the_message_names_the_way_out() -> None:
    found = problems(tenant_yaml())
    assert len(found) == 1
    assert "'SentimentScore' is not on the chat ExtraDataForHistory allow-list" in found[0]
    assert "fields_by_channel.chat" in found[0]


def test_a_narrower_chat_list_loads_when_the_chat_fields_are_named() -> None:
    block = sinch(tenant_yaml("      fields_by_channel: {chat: [Sentiment]}\n"))
    assert block.fields_by_channel == {"chat": ["Sentiment"]}
    assert [block.writes(n, "chat") for n in ("Sentiment", "SentimentScore", "CaseNumber")] == [
        True,
        False,
        False,
    ]
    assert all(block.writes(n, "voice") for n in ("Sentiment", "SentimentScore", "CaseNumber"))


def test_a_channel_may_get_no_field_at_all() -> None:
    block = sinch(tenant_yaml("      fields_by_channel: {chat: []}\n", chat="[]"))
    assert not block.writes("Sentiment", "chat")


@pytest.mark.parametrize(
    ("extra", "chat", "expected"),
    [
        (
            "      fields_by_channel: {chat: [Sentiment, CaseNumber]}\n",
            "[Sentiment]",
            "'CaseNumber' is not on the chat ExtraDataForHistory allow-list",
        ),
        (
            "      fields_by_channel: {chat: [Sentiment, Sentimnet]}\n",
            "[Sentiment]",
            "fields_by_channel.chat: 'Sentimnet' is not a mapped field",
        ),
        (
            "      fields_by_channel: {voice: [Sentiment, CaseNumber], chat: [Sentiment]}\n",
            "null",
            "channel 'chat' has no extra_data_for_history list",
        ),
        ("      fields_by_channel: {email: [Sentiment]}\n", "[Sentiment]", "email"),
    ],
)
def test_fields_named_for_a_channel_must_be_mapped_and_allowed_there(
    extra: str, chat: str, expected: str
) -> None:
    text = tenant_yaml(extra, chat=chat)
    if chat == "null":
        text = text.replace("        chat: null\n", "")
    found = problems(text)
    assert any(expected in problem for problem in found), found
