"""The web console: every incident, its live timeline, postmortems and trends in a browser,
behind Sign in with Slack. Inbound like the Slack listeners: it reads through bot.storage and
changes things only through the use cases in bot.service, as the signed-in person."""
