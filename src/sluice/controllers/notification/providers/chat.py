"""Chat providers: the payloads of Flux's slack, discord, rocket, msteams, googlechat,
telegram, matrix, webex, zoom, lark and zulip notifiers, field for field.

Metadata fields follow the combined metadata's order (Flux iterates a Go map,
so its order is random; Sluice's is stable). Discord also has an opt-in
native-embeds payload (Provider annotation ``notification.sluice.dev/discord-embeds:
"true"``), posted to the webhook itself instead of its Slack-compatible
``/slack`` endpoint; Flux's payload stays the default.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sluice.controllers.notification.errors import DeliveryFailed, ProviderError
from sluice.controllers.notification.ingest import Event
from sluice.controllers.notification.providers.base import ProviderConfig, Sender, object_name

__all__ = [
    "DISCORD_EMBEDS_ANNOTATION",
    "discord",
    "googlechat",
    "lark",
    "matrix",
    "msteams",
    "rocket",
    "slack",
    "telegram",
    "webex",
    "zoom",
]

DISCORD_EMBEDS_ANNOTATION = "notification.sluice.dev/discord-embeds"
SLACK_API = "https://slack.com/api/chat.postMessage"


def _require_url(address: str, what: str) -> str:
    parts = urlsplit(address)
    if not parts.scheme or not (parts.netloc or parts.path.startswith("/")):
        # Flux prints the URL here; it is the secret, so Sluice does not.
        raise ProviderError(f"invalid {what} URL")
    return address


def _fields(event: Event) -> list[dict[str, Any]]:
    return [{"title": k, "value": v, "short": False} for k, v in event.metadata.items()]


def _slack_payload(event: Event, username: str, channel: str, *, fallback: bool,
                   color: str) -> dict[str, Any]:
    author = object_name(event)
    attachment = {
        "fallback": f"{author}: {event.message.split(chr(10))[0]}" if fallback else "",
        "color": color,
        "author_name": author,
        "text": event.message,
        "mrkdwn_in": ["text"],
        "fields": _fields(event),
    }
    return {"channel": channel, "username": username or event.reporting_controller,
            "icon_url": "", "icon_emoji": "", "attachments": [attachment]}


async def slack(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    url = _require_url(cfg.address, "Slack hook")
    payload = _slack_payload(event, cfg.username, cfg.channel, fallback=True,
                             color="danger" if event.severity == "error" else "good")
    headers = {"Authorization": f"Bearer {cfg.token}"} if cfg.token else {}
    response = await sender.post_json(url, payload, headers)
    if url == SLACK_API:
        try:
            answer = response.json()
        except ValueError as exc:
            raise DeliveryFailed(f"unable to unmarshal response body: {exc}") from None
        if not answer.get("ok"):
            raise DeliveryFailed(f"Slack responded with error: {answer.get('error', '')}")


def _discord_url(address: str) -> str:
    if address.endswith("/slack"):
        return address
    parts = urlsplit(address)
    path = parts.path.rstrip("/") + "/slack"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


async def discord(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    url = _require_url(cfg.address, "Discord hook")
    color = "danger" if event.severity == "error" else "good"
    if cfg.annotations.get(DISCORD_EMBEDS_ANNOTATION, "").lower() == "true":
        await sender.post_json(url, _discord_embeds(cfg, event))
        return
    # Discord: no channel (the webhook fixes it), no fallback, no bearer token.
    payload = _slack_payload(event, cfg.username, "", fallback=False, color=color)
    await sender.post_json(_discord_url(url), payload)


def _discord_embeds(cfg: ProviderConfig, event: Event) -> dict[str, Any]:
    embed: dict[str, Any] = {
        "title": object_name(event),
        "description": event.message,
        "color": 0xE74C3C if event.severity == "error" else 0x2ECC71,
        "fields": [{"name": k, "value": v, "inline": False} for k, v in event.metadata.items()],
        "footer": {"text": event.reporting_controller},
    }
    if event.timestamp:
        embed["timestamp"] = event.timestamp
    return {"username": cfg.username or event.reporting_controller, "embeds": [embed]}


async def rocket(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    url = _require_url(cfg.address, "Rocket hook")
    payload = _slack_payload(event, cfg.username, cfg.channel, fallback=False,
                             color="#FF0000" if event.severity == "error" else "#0076D7")
    await sender.post_json(url, payload)


async def msteams(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    url = _require_url(cfg.address, "MS Teams webhook")
    name = object_name(event)
    host = (urlsplit(url).hostname or "")
    if host.endswith(".webhook.office.com"):
        payload: dict[str, Any] = {
            "@type": "MessageCard", "@context": "http://schema.org/extensions",
            "themeColor": "FF0000" if event.severity == "error" else "0076D7",
            "summary": name,
            "sections": [{"activityTitle": event.message, "activitySubtitle": name,
                          "facts": [{"name": k, "value": v}
                                    for k, v in event.metadata.items()]}],
        }
        await sender.post_json(url, payload)
        return
    message: dict[str, Any] = {"type": "TextBlock", "text": event.message}
    if event.severity == "error":
        message["color"] = "attention"
    message["wrap"] = True
    facts = []
    if "summary" in event.metadata:
        facts.append({"title": "summary", "value": event.metadata["summary"]})
    facts += [{"title": k, "value": v} for k, v in sorted(event.metadata.items())
              if k != "summary"]
    factset: dict[str, Any] = {"type": "FactSet"}
    if facts:
        factset["facts"] = facts
    payload = {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [{"type": "Container", "items": [
                    {"type": "TextBlock", "text": name, "size": "large", "weight": "bolder",
                     "wrap": True},
                    message,
                    factset,
                ]}],
                "msteams": {"width": "Full"},
            },
        }],
    }
    await sender.post_json(url, payload)


async def googlechat(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    url = _require_url(cfg.address, "Google Chat hook")
    text = event.message
    if event.severity == "error":
        text = f'<font color="#ff0000">{event.message}</font>'
    sections: list[dict[str, Any]] = [
        {"header": "", "widgets": [{"textParagraph": {"text": text}, "keyValue": None}]}]
    if event.metadata:
        sections.append({"header": "", "widgets": [
            {"textParagraph": None,
             "keyValue": {"topLabel": k, "content": v, "contentMultiline": False,
                          "bottomLabel": None, "icon": None}}
            for k, v in event.metadata.items()]})
    payload = {"cards": [{"header": {"title": object_name(event),
                                     "subtitle": event.reporting_controller,
                                     "imageUrl": None, "imageStyle": None},
                          "sections": sections}]}
    await sender.post_json(url, payload)


_TELEGRAM_SPECIAL = "\\.-_[]()~>`#+=|{}!*"


def _telegram_escape(text: str) -> str:
    return "".join("\\" + c if c in _TELEGRAM_SPECIAL else c for c in text)


async def telegram(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    if not cfg.channel:
        raise ProviderError("empty Telegram channel")
    if not cfg.token:
        raise ProviderError("empty Telegram token")
    emoji = "🚨" if event.severity == "error" else "💫"
    heading = f"{emoji} {event.kind.lower()}/{event.name}/{event.namespace}"
    metadata = "".join(f"\\- *{_telegram_escape(k)}*: {_telegram_escape(v)}\n"
                       for k, v in event.metadata.items())
    text = f"*{_telegram_escape(heading)}*\n{_telegram_escape(event.message)}\n{metadata}"
    chat_id, sep, thread = cfg.channel.partition(":")
    payload: dict[str, Any] = {"chat_id": chat_id}
    if sep:
        payload["message_thread_id"] = thread
    payload["text"] = text
    payload["parse_mode"] = "MarkdownV2"
    base = cfg.address.rstrip("/") if cfg.address else "https://api.telegram.org"
    await sender.post_json(f"{base}/bot{cfg.token}/sendMessage", payload)


async def matrix(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    url = _require_url(cfg.address, "Matrix homeserver")
    tx_id = hashlib.sha1(event.body()).hexdigest()
    emoji = "🚨" if event.severity == "error" else "💫"
    metadata = "".join(f"- {k}: {v}\n" for k, v in event.metadata.items())
    heading = f"{emoji} {object_name(event)}"
    payload = {"body": f"{heading}\n{event.message}\n{metadata}", "msgtype": "m.text"}
    await sender.post_json(f"{url}/_matrix/client/r0/rooms/{cfg.channel}/send/m.room.message/"
                           f"{tx_id}", payload, {"Authorization": f"Bearer {cfg.token}"},
                           method="PUT")


async def webex(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    """Webex messages API: ``{"roomId": <channel>, "markdown": ...}``, Bearer token."""
    url = _require_url(cfg.address, "Webex hook")
    emoji = "💣" if event.severity == "error" else "✅"
    markdown = (f"{emoji} **{object_name(event)}**\n{event.message}\n"
                + "".join(f">**{k}**: {v}\n" for k, v in event.metadata.items()))
    payload = {"roomId": cfg.channel, "markdown": markdown}
    if not cfg.channel:  # omitempty
        del payload["roomId"]
    try:
        await sender.post_json(url, payload, {"Authorization": f"Bearer {cfg.token}"})
    except DeliveryFailed as exc:
        raise DeliveryFailed(f"postMessage failed: {exc}") from None


async def zoom(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    """Zoom Team Chat incoming webhook, ``?format=full``; the raw token in ``Authorization``."""
    url = _require_url(cfg.address, "Zoom incoming webhook")
    if not cfg.token:
        raise ProviderError("empty Zoom verification token")
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if not query.get("format"):
        query["format"] = "full"
        url = urlunsplit(parts._replace(query=urlencode(sorted(query.items()))))
    body: list[dict[str, Any]] = [{"type": "message", "text": event.message}]
    if event.metadata:
        body.append({"type": "fields", "items": [{"key": k, "value": v}
                                                 for k, v in event.metadata.items()]})
    payload = {"content": {"head": {"text": object_name(event),
                                    "sub_head": {"text": event.severity}},
                           "body": body}}
    try:
        await sender.post_json(url, payload, {"Authorization": cfg.token})
    except DeliveryFailed as exc:
        raise DeliveryFailed(f"postMessage failed: {exc}") from None


async def lark(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    """Lark (Feishu) custom bot: an interactive card; no proxy or TLS options in Flux."""
    url = _require_url(cfg.address, "Slack hook")  # Flux's wording
    error = event.severity == "error"
    content = f"**{event.message}**\n\n" + "".join(f"{k}: {v}\n"
                                                   for k, v in event.metadata.items())
    payload = {"msg_type": "interactive", "card": {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text",
                             "content": f"{'🚨' if error else '💫'} {object_name(event)}"},
                   "template": "red" if error else "turquoise"},
        "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": content}}]}}
    await sender.post_json(url, payload)


def markdown_post(event: Event) -> str:
    """Flux's formatMarkdownPost: sorted metadata, the change-request key left out."""
    emoji = "⚠️" if event.severity == "error" else "ℹ️"
    lines = "".join(f"* `{k}`: {event.metadata[k]}\n" for k in sorted(event.metadata)
                    if k != "change_request")
    return (f"## Flux Status\n\n{emoji} {event.kind}/{event.namespace}/{event.name}\n\n"
            f"{event.message}\n\nMetadata:\n{lines}")


async def zulip(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    """Zulip: a stream message POSTed as a form to ``/api/v1/messages`` with Basic auth;
    ``spec.channel`` is ``<stream>/<topic>``."""
    parts = urlsplit(cfg.address)
    stream, _, topic = cfg.channel.partition("/")
    if not stream or not topic:
        raise ProviderError("invalid Zulip channel format, expected <channel>/<topic>, got "
                            f"'{cfg.channel}'")
    url = urlunsplit(parts._replace(path="/api/v1/messages"))
    # Go's url.Values.Encode: keys sorted, query escaping.
    body = urlencode(sorted({"type": "stream", "to": stream, "topic": topic,
                             "content": markdown_post(event)}.items())).encode()
    auth = base64.b64encode(f"{cfg.username}:{cfg.password}".encode()).decode()
    await sender.request("POST", url, body, {
        "Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {auth}"})
