"""Delivering the Slack outbox: the sender claims a channel's lane, sends its items and cards
in order through the outbound gateway, and records each outcome. The one Slack room that reads
the database; rendering and the gateway (bot.slack.out) do not."""
