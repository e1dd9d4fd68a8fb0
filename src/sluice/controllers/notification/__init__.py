"""The notification controller: events out to chat and Git hosts, webhooks in.

Like Flux's notification-controller it has two HTTP servers and one
reconciler:

* the event server (`event_server`, Flux's ``:9090``) takes Flux's event
  JSON from every controller (`ingest`: clean-up, rate limit), matches it
  against Alerts (`matching`) and sends it through the Alert's Provider
  (`dispatch`, `providers`);
* the receiver server (`receiver_server`, Flux's ``:9292``) validates calls
  from GitHub, GitLab, registries ... (`signatures`) and annotates the
  Receiver's resources with ``reconcile.fluxcd.io/requestedAt``;
* the Receiver reconciler (`receivers`) computes each Receiver's webhook
  path and Ready condition.

`controller.setup_notification_controller` wires them on a manager.
"""
