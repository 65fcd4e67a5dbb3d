"""A report as plain data (pure): what the XLSX and PDF renderers draw, and what a test
reads back. Numbers stay numbers; a figure that is not stored is ``None`` and is shown
as :data:`NO_DATA`, never as 0."""

from __future__ import annotations

from dataclasses import dataclass, field

Cell = str | float | int | bool | None

NO_DATA = "无数据 no data"
"""What a report shows where no figure is stored (never a 0 it does not have)."""


@dataclass(frozen=True, slots=True)
class Table:
    """One section's table: ``key`` names its sheet; every header that holds numbers names
    their unit (``能耗 energy (tce)``), or the table has a unit column."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]]
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"{self.key}: a row of {len(row)} cells in {len(self.columns)}")


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart of the PDF: ``bars`` and ``lines`` draw each series over ``labels``;
    ``pie`` draws the first series' shares of ``labels``."""

    kind: str
    title: str
    unit: str
    labels: list[str]
    series: dict[str, list[float | None]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Report:
    """A whole report: title, the subject and period, the method lines every sheet and
    the PDF start with (factors and methods, by id), its tables and charts."""

    title: str
    subject: str
    period: str
    methods: tuple[str, ...]
    tables: tuple[Table, ...]
    charts: tuple[Chart, ...] = ()

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)
