"""A report as a PDF (reportlab): title, method lines, the charts (reportlab.graphics:
no plotting dependency) and every table, Chinese text in an embedded CJK font.

reportlab embeds TrueType outlines only: the Noto CJK fonts are OpenType/CFF, so the font
is WenQuanYi Micro Hei (``fonts-wqy-microhei``, installed by ``./dev setup``) or another
TrueType CJK font of :data:`FONTS`; none found is a clear error naming the package."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.charts.piecharts import Pie
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as PdfTable

from reports.model import NO_DATA, Chart, Report, Table
from smartpark.errors import ConfigError

FONT = "smartpark-cjk"
#: TrueType CJK fonts, first found wins (file, index in a collection).
FONTS = (
    (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), 0),
    (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), 0),
    (Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"), 0),
)
PALETTE = (colors.HexColor("#2f6f9f"), colors.HexColor("#d0743c"), colors.HexColor("#5a9e5a"),
           colors.HexColor("#9b59b6"), colors.HexColor("#c0392b"), colors.HexColor("#7f8c8d"),
           colors.HexColor("#f1c40f"))  # fmt: skip


@cache
def font() -> str:
    """Register the CJK font once; its name."""
    for path, index in FONTS:
        if path.exists():
            pdfmetrics.registerFont(TTFont(FONT, str(path), subfontIndex=index))
            return FONT
    raise ConfigError(
        "no TrueType CJK font for the PDF: install fonts-wqy-microhei (./dev setup does)"
    )


def _cell(value: object) -> str:
    if value is None:
        return NO_DATA
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.2f}"
    return str(value)


def _table(table: Table, style: ParagraphStyle, width: float) -> list[Flowable]:
    small = ParagraphStyle("cell", parent=style, fontSize=7, leading=8.5)
    head = [Paragraph(h, small) for h in table.columns]
    # a Paragraph (wrapping) for the row's name and long text only: plain strings draw
    # several times faster, and a report has hundreds of cells
    body = [
        [Paragraph(_cell(v), small) if i == 0 or len(_cell(v)) > 24 else _cell(v)
         for i, v in enumerate(row)]
        for row in table.rows
    ]  # fmt: skip
    heading = ParagraphStyle("h", parent=style, fontSize=11, leading=14, spaceBefore=6)
    out: list[Flowable] = [Paragraph(table.title, heading)]
    out += [Paragraph(n, small) for n in table.notes]
    weights = [2.5] + [1.0] * (len(head) - 1)  # the first column names the row
    widths = [width * w / sum(weights) for w in weights]
    grid = PdfTable([head, *body], repeatRows=1, colWidths=widths)
    grid.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONT", (0, 0), (-1, -1), font(), 7),
    ]))  # fmt: skip
    return [*out, grid, Spacer(1, 4 * mm)]


def _drawing(chart: Chart, width: float, height: float) -> Drawing:
    d = Drawing(width, height)
    d.add(String(0, height - 12, f"{chart.title} ({chart.unit})", fontName=font(), fontSize=10))
    names = list(chart.series)
    data = [[v if v is not None else 0.0 for v in chart.series[n]] for n in names]
    if not chart.labels or not any(any(s) for s in data):
        d.add(String(0, height / 2, NO_DATA, fontName=font(), fontSize=9))
        return d
    if chart.kind == "pie":
        pie = Pie()
        pie.x, pie.y, pie.width, pie.height = 10, 10, int(height - 40), int(height - 40)
        pie.data, pie.labels = data[0], None
        for i in range(len(data[0])):
            pie.slices[i].fillColor = PALETTE[i % len(PALETTE)]
        d.add(pie)
        total = sum(data[0])
        pairs = [(PALETTE[i % len(PALETTE)], f"{n} {v / total * 100:.1f} %")
                 for i, (n, v) in enumerate(zip(chart.labels, data[0], strict=True))]  # fmt: skip
        _legend(d, pairs, x=height, y=height - 30)
        return d
    plot: VerticalBarChart | HorizontalLineChart
    if chart.kind == "bars":
        plot = VerticalBarChart()
        for i in range(len(names)):
            plot.bars[i].fillColor = PALETTE[i % len(PALETTE)]
    else:
        plot = HorizontalLineChart()
        for i in range(len(names)):
            plot.lines[i].strokeColor = PALETTE[i % len(PALETTE)]
            plot.lines[i].strokeWidth = 1.2
    plot.x, plot.y, plot.width, plot.height = 40, 20, int(width - 170), int(height - 45)
    plot.data = data
    plot.categoryAxis.categoryNames = chart.labels
    plot.categoryAxis.labels.fontName = plot.valueAxis.labels.fontName = font()
    plot.categoryAxis.labels.fontSize = plot.valueAxis.labels.fontSize = 6
    plot.valueAxis.valueMin = 0
    d.add(plot)
    _legend(d, [(PALETTE[i % len(PALETTE)], n) for i, n in enumerate(names)],
            x=width - 120, y=height - 30)  # fmt: skip
    return d


def _legend(d: Drawing, pairs: list[tuple[colors.Color, str]], *, x: float, y: float) -> None:
    legend = Legend()
    legend.x, legend.y, legend.fontName, legend.fontSize = int(x), int(y), font(), 7
    legend.alignment = "right"
    legend.colorNamePairs = pairs
    d.add(legend)


def render(report: Report) -> bytes:
    """The PDF's bytes (A4 landscape)."""
    name = font()
    style = ParagraphStyle("body", fontName=name, fontSize=8, leading=10)
    title = ParagraphStyle("title", fontName=name, fontSize=15, leading=19)
    size = landscape(A4)
    width = size[0] - 24 * mm
    story: list[Flowable] = [
        Paragraph(report.title, title),
        Paragraph(f"{report.subject}  {report.period}", style),
        Spacer(1, 2 * mm),
        *(Paragraph(line, style) for line in report.methods[1:]),
        Spacer(1, 3 * mm),
    ]
    charts = [_drawing(c, width / 2 - 4 * mm, 62 * mm) for c in report.charts]
    for i in range(0, len(charts), 2):
        pair = charts[i : i + 2]
        story.append(PdfTable([pair], colWidths=[width / 2] * len(pair)))
    if charts:  # the tables on pages of their own after the charts
        story.append(PageBreak())
    for table in report.tables:
        story += _table(table, style, width)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=size, leftMargin=12 * mm, rightMargin=12 * mm,
                            topMargin=10 * mm, bottomMargin=10 * mm, title=report.title,
                            subject=f"{report.subject} {report.period}")  # fmt: skip
    doc.build(story)
    return buffer.getvalue()
