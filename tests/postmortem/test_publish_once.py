"""One postmortem upload per resolve: a retried postmortem job does not upload it again, while a
resolve after a reopen uploads a new one."""

from __future__ import annotations

from bot.demo import DemoIncident
from bot.devstack import DevStack
from bot.storage import jobs
from tests.helpers.postmortem import announcing_config, postmortem_files, resolved_posts, stack_for
from tests.helpers.stack import MakeStack


def uploads(stack: DevStack) -> list[str]:
    return [f["title"] for f in postmortem_files(stack)]


async def test_retried_postmortem_job_uploads_once_and_a_new_resolve_again(
    make_stack: MakeStack,
) -> None:
    async with stack_for(make_stack, announcing_config()) as stack:
        demo = await DemoIncident(stack).play()  # PagerDuty resolves: one upload
        assert uploads(stack) == ["INC-1 postmortem"]

        # The same resolve's postmortem job runs again (a worker lost its lease mid-job).
        async with stack.runtime.db.transaction() as session:
            jobs.add_job(session, "incident.postmortem", {"incident": 1, "resolved_by": None})
        stack.runtime.worker.wake()
        await stack.settle()
        assert uploads(stack) == ["INC-1 postmortem"]
        assert len(resolved_posts(stack, "incidents")) == 1

        # Reopened, then resolved again: that resolve gets its own postmortem.
        pd, pd_id = stack.pagerduty, demo.scenario.pd_incident_id
        pd.set_status(pd_id, "triggered")
        reopened = pd.webhook_event("incident.reopened", pd_id)
        assert (await stack.pagerduty_webhook(reopened, webhook_id="w-reopen")).status_code == 202
        await stack.settle()
        pd.set_status(pd_id, "resolved")
        resolved = pd.webhook_event("incident.resolved", pd_id)
        assert (await stack.pagerduty_webhook(resolved, webhook_id="w-res-2")).status_code == 202
        await stack.settle()
        assert uploads(stack) == ["INC-1 postmortem", "INC-1 postmortem"]
