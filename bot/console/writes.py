"""What a signed-in person changes from the console, through the same use cases as Slack and
with the same rule (responders only): a note, a change's verdict, the postmortem's fields."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.console.guard import error_page
from bot.console.pages import incident_number
from bot.console.session import Person
from bot.domain.model import Verdict
from bot.service import authz, incidents, postmortems, verdicts
from bot.service.pagerduty_mirror import note_everywhere
from bot.service.runtime import Runtime

MAX_NOTE = 3000
MAX_FIELD = 10000


class Writes:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def _allowed(self, request: Request, person: Person) -> int | Response:
        """The incident's number when it exists and the person is one of its responders."""
        number = incident_number(request)
        if number is None or await incidents.load(self.rt, number) is None:
            return error_page(person, 404, "Not found", "There is no such incident.")
        why = await authz.refusal(self.rt, number, person.user_id)
        if why is not None:
            return error_page(person, 403, "Responders only", why)
        return number

    async def note(self, request: Request, person: Person, fields: dict[str, str]) -> Response:
        number = await self._allowed(request, person)
        if isinstance(number, Response):
            return number
        text = (fields.get("text") or "").strip()
        if not text:
            return error_page(person, 400, "Empty note", "Write something to add a note.")
        if len(text) > MAX_NOTE:
            return error_page(person, 400, "Too long", f"A note has at most {MAX_NOTE} characters.")
        await note_everywhere(self.rt, number, text, person.user_id)
        return RedirectResponse(f"/ui/incidents/{number}#timeline", status_code=303)

    async def verdict(self, request: Request, person: Person, fields: dict[str, str]) -> Response:
        number = await self._allowed(request, person)
        if isinstance(number, Response):
            return number
        try:
            verdict = Verdict(fields.get("verdict", ""))
        except ValueError:
            return error_page(person, 400, "Bad verdict", "Suspect, caused or not related.")
        change = (fields.get("change") or "")[:300]
        if not await verdicts.set_verdict(self.rt, number, change, verdict, by=person.user_id):
            return error_page(person, 404, "Not found", "That change is not ranked here.")
        return RedirectResponse(f"/ui/incidents/{number}#changes", status_code=303)

    async def postmortem(
        self, request: Request, person: Person, fields: dict[str, str]
    ) -> Response:
        number = await self._allowed(request, person)
        if isinstance(number, Response):
            return number
        edited: dict[str, str | None] = {k: fields[k] for k in postmortems.EDITABLE if k in fields}
        if any(len(v or "") > MAX_FIELD for v in edited.values()):
            return error_page(person, 400, "Too long", f"At most {MAX_FIELD} characters each.")
        await postmortems.update_fields(self.rt, number, edited, by=person.user_id)
        return RedirectResponse(f"/ui/incidents/{number}/postmortem", status_code=303)
