"""The stage-band chart goes to Slack as a PNG: a real image (every chunk's CRC holds and the
pixels inflate to the size the header declares), uploaded with the postmortem at resolve."""

from __future__ import annotations

import struct
import zlib

from bot.demo import CONFIG, DemoIncident
from bot.postmortem.chart import WIDTH, build_chart
from bot.postmortem.document import PostmortemDoc
from bot.postmortem.png import ZOOM, chart_png, chart_svg
from tests.helpers.stack import FAST_VERIFY, MakeStack

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode(png: bytes) -> tuple[int, int, bytes]:
    """(width, height, raw scanlines): the PNG taken apart by hand."""
    assert png.startswith(SIGNATURE)
    at, chunks = len(SIGNATURE), []
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + data) == crc, kind
        chunks.append((kind, data))
        at += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, color = struct.unpack(">IIBB", chunks[0][1][:10])
    assert depth == 8 and color in (2, 6)  # 8-bit RGB or RGBA
    raw = zlib.decompress(b"".join(data for kind, data in chunks if kind == b"IDAT"))
    channels = 4 if color == 6 else 3
    assert len(raw) == height * (1 + width * channels)
    return width, height, raw


def test_the_chart_renders_to_a_png_of_the_svg_size(doc: PostmortemDoc) -> None:
    svg = chart_svg(doc)
    assert svg.startswith("<svg") and "Observe" in svg
    png = chart_png(doc)
    width, height, raw = decode(png)
    assert len(png) > 10_000  # bands, bars and labels, not a blank canvas
    assert (width, height) == (WIDTH * ZOOM, build_chart(doc).height * ZOOM)
    assert len(set(raw)) > 50  # many colours: it drew something


async def test_the_resolved_demo_uploads_its_stage_chart(make_stack: MakeStack) -> None:
    async with make_stack(CONFIG, env=FAST_VERIFY) as stack:
        demo = DemoIncident(stack)
        await demo.play()
        await stack.settle()
        files = [f for f in stack.slack.files if f["channel"] == demo.channel]
        names = [f["filename"] for f in files]
        assert names == ["inc-1-postmortem.md", "inc-1-stages.png"], names
        width, height, _ = decode(files[1]["content"])
        assert width > 500 and height > 100
        assert files[1]["title"] == "INC-1: time in each OODA stage"
