"""Built-in local fakes of Slack, PagerDuty, GitHub and Argo CD for `ooda demo` and the tests.

Each fake is a real HTTP server on loopback (Starlette served by uvicorn in a daemon thread),
stateful, thread-safe and recording every call::

    with FakeSlack(users={"alice@example.com": "U0ALICE"}, channels=["incidents"]) as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=f"{slack.url}/api/")

Point the bot at them with SLACK_API_URL=f"{slack.url}/api/", PAGERDUTY_API_URL=pagerduty.url,
GITHUB_API_URL=github.url, ARGOCD_URL=argocd.url. `start()`/`stop()` or `with` serve a fake on
127.0.0.1 with a free port; LoopbackServer serves any ASGI app (e.g. the bot's own) the same way.
"""

from bot.fakes.argocd_api import FakeArgoCD
from bot.fakes.github_api import FakeGitHub
from bot.fakes.github_api import sign_webhook as sign_github_webhook
from bot.fakes.pagerduty_api import FakePagerDuty
from bot.fakes.pagerduty_webhooks import sign_webhook as sign_pagerduty_webhook
from bot.fakes.pagerduty_webhooks import webhook_event as pagerduty_webhook_event
from bot.fakes.server import LoopbackServer
from bot.fakes.slack_api import FakeSlack, SlackCall

__all__ = [
    "FakeArgoCD",
    "FakeGitHub",
    "FakePagerDuty",
    "FakeSlack",
    "LoopbackServer",
    "SlackCall",
    "pagerduty_webhook_event",
    "sign_github_webhook",
    "sign_pagerduty_webhook",
]
