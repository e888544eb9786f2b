"""Publishing through the real app: upload at resolve, one resolution announcement per channel
carrying the postmortem's link (even when the upload fails), a user template from OODA_CONFIG's
templates_dir, `/incident postmortem [edit]`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.demo import DemoIncident, Step
from bot.fakes import slack_methods
from bot.fakes.slack_state import SlackError
from bot.service import postmortems
from bot.storage import repo
from bot.storage.tables import Incident, OutboxRow
from tests.helpers.postmortem import (
    announcements,
    announcing_config,
    file_text,
    postmortem_files,
    postmortem_posts,
    resolved_posts,
    stack_for,
)
from tests.helpers.stack import MakeStack


async def test_resolve_uploads_postmortem_and_announces_its_link(make_stack: MakeStack) -> None:
    async with stack_for(make_stack, announcing_config()) as stack:
        demo = await DemoIncident(stack).play()
        files = postmortem_files(stack)
        assert [f["title"] for f in files] == ["INC-1 postmortem"]
        uploaded = files[0]
        assert uploaded["channel"] == demo.channel
        assert file_text(uploaded).startswith("# INC-1: Checkout 5xx errors above SLO")

        # The file's permalink, as files.completeUploadExternal returned it.
        permalink = re.compile(
            rf"<https://fake-workspace\.slack\.com/files/U\w+/{uploaded['id']}\|read it>"
        )
        for channel in ("incidents", "checkout-eng"):
            # One post per channel: the resolution, carrying the postmortem's link.
            posts = postmortem_posts(stack, channel)
            assert posts == resolved_posts(stack, channel), stack.slack.messages(channel)
            assert len(posts) == 1, (channel, stack.slack.messages(channel))
            assert "*INC-1 resolved* after" in posts[0]
            assert permalink.search(posts[0]), posts[0]

        # `/incident postmortem` posts it again in the incident channel, without re-announcing.
        await stack.command("postmortem", user=demo.scenario.alice, channel=demo.channel)
        await stack.settle()
        assert len(postmortem_files(stack)) == 2
        assert postmortem_files(stack)[1]["channel"] == demo.channel
        assert len(postmortem_posts(stack, "incidents")) == 1
        assert len(resolved_posts(stack, "incidents")) == 1


async def test_user_template_from_config_is_used_for_the_upload(
    tmp_path: Path, make_stack: MakeStack
) -> None:
    templates = tmp_path / "pm-templates"
    templates.mkdir()
    (templates / "postmortem.md.j2").write_text(
        '{% extends "builtin/postmortem.md.j2" %}'
        "{% block summary %}## ACME summary\n\nWritten for {{ incident.ref }}.\n{% endblock %}",
        encoding="utf-8",
    )
    config = announcing_config(templates_dir="pm-templates")  # relative to the config file
    async with stack_for(make_stack, config) as stack:
        await DemoIncident(stack).play()
        text = file_text(postmortem_files(stack)[-1])
    assert "## ACME summary\n\nWritten for INC-1." in text
    assert "Decision log" in text  # the rest still comes from the built-in template


async def test_postmortem_edit_modal_updates_incident_and_republishes(
    make_stack: MakeStack,
) -> None:
    async with stack_for(make_stack, announcing_config()) as stack:
        demo = await DemoIncident(stack).play(through=Step.ACT)
        alice, cid = demo.scenario.alice, demo.channel
        await stack.command("resolve Rolled back v1.43.0", user=alice, channel=cid)
        await stack.settle()
        assert len(postmortem_files(stack)) == 1
        announced = len(postmortem_posts(stack, "incidents"))
        assert announced == 1

        await stack.command("postmortem edit", user=alice, channel=cid)
        await stack.settle()
        modal = stack.slack.views[-1]
        assert modal["callback_id"] == "postmortem_edit"
        initial = {
            b["block_id"]: b["element"].get("initial_value")
            for b in modal["blocks"]
            if b["type"] == "input"
        }
        assert initial == {"summary": "Rolled back v1.43.0", "impact": None, "root_cause": None}

        response = await stack.submit(
            modal,
            {
                "summary": "Rolled back v1.43.0 <!channel>",
                "impact": "12% of checkouts failed for 3 minutes",
                "root_cause": "The new payment retry policy retried non-idempotent calls",
            },
            user=alice,
        )
        assert response.status_code == 200
        await stack.settle()

        async with stack.runtime.db.session() as session:
            incident = (await session.scalars(select(Incident))).one()
        assert incident.impact == "12% of checkouts failed for 3 minutes"
        assert incident.root_cause.startswith("The new payment retry policy")
        files = postmortem_files(stack)
        assert len(files) == 2  # re-published
        text = file_text(files[-1])
        assert "12% of checkouts failed for 3 minutes" in text
        assert "retried non-idempotent calls" in text
        assert len(postmortem_posts(stack, "incidents")) == announced  # not announced again
        assert len(resolved_posts(stack, "incidents")) == 1


async def test_without_file_permalink_the_announcement_links_the_pinned_summary(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real Slack answers files.completeUploadExternal with only id and title per file.
    complete = slack_methods.METHODS["files.completeUploadExternal"]

    def like_slack(state: Any, params: dict[str, Any]) -> dict[str, Any]:
        answer = complete(state, params)
        return {"files": [{"id": f["id"], "title": f["title"]} for f in answer["files"]]}

    monkeypatch.setitem(slack_methods.METHODS, "files.completeUploadExternal", like_slack)
    async with stack_for(make_stack, announcing_config()) as stack:
        demo = await DemoIncident(stack).play()
        assert [f["title"] for f in postmortem_files(stack)] == ["INC-1 postmortem"]
        async with stack.runtime.db.session() as session:
            summary_ts = await repo.message_ts(session, 1, "summary")
        assert summary_ts is not None
        link = (
            f"<https://fake-workspace.slack.com/archives/{demo.channel}/"
            f"p{summary_ts.replace('.', '')}|read it>"
        )
        posts = postmortem_posts(stack, "incidents")
        assert len(posts) == 1 and link in posts[0], posts


async def test_resolution_is_announced_once_per_channel_with_the_postmortem_link(
    make_stack: MakeStack,
) -> None:
    async with stack_for(make_stack, announcing_config()) as stack:
        demo = await DemoIncident(stack).play()
        [uploaded] = postmortem_files(stack)
        for channel in ("incidents", "checkout-eng"):
            [post] = announcements(stack, channel)
            assert post.startswith(":white_check_mark: *INC-1 resolved* after")
            assert f"/{uploaded['id']}|read it>" in post
            assert f"<#{demo.channel}>" in post

        # A retried postmortem job neither uploads nor announces again.
        await postmortems.publish(stack.runtime, 1)
        assert len(postmortem_files(stack)) == 1
        for channel in ("incidents", "checkout-eng"):
            assert len(announcements(stack, channel)) == 1


async def test_resolution_is_announced_even_when_the_upload_fails(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_state: Any, _params: dict[str, Any]) -> dict[str, Any]:
        raise SlackError("not_allowed_token_type")

    monkeypatch.setitem(slack_methods.METHODS, "files.getUploadURLExternal", refuse)
    async with stack_for(make_stack, announcing_config()) as stack:
        demo = await DemoIncident(stack).play()
        assert postmortem_files(stack) == []
        async with stack.runtime.db.session() as session:
            uploads = (
                await session.scalars(select(OutboxRow).where(OutboxRow.op == "upload"))
            ).all()
        [upload] = [u for u in uploads if u.payload["filename"].endswith("-postmortem.md")]
        assert upload.attempts >= 1 and "not_allowed_token_type" in (upload.last_error or "")
        assert upload.status == "failed"
        await stack.runtime.worker.run_once()  # a retry, if one is due: still one post
        [post] = announcements(stack, "incidents")
        assert "*INC-1 resolved*" in post
        assert f"Postmortem: in <#{demo.channel}>" in post
