"""Providers: one module per family, each turning an event into Flux's exact requests.

`base` holds the configuration read from the Provider and its Secrets and
the HTTP sender with Flux's retry policy; `chat` the chat services (Slack,
Discord, Teams, Google Chat, Telegram, Matrix, Rocket.Chat); `webhooks` the
generic forwarders, Alertmanager and Grafana; `commitstatus` GitHub,
GitLab and Gitea commit statuses; `factory` maps ``spec.type`` to them.
"""
