"""Reading ``stitching_report.html`` back with the standard library's HTML parser, for tests."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class ReportPage:
    """What a test checks of the page: its tables, links, map elements and tooltips."""

    tables: dict[str, list[list[str]]] = field(default_factory=dict)  # by id: rows of cells
    links: list[str] = field(default_factory=list)  # every src, href and url(...) value
    elements: Counter[str] = field(default_factory=Counter)  # "tag.class" -> count
    dashed_pairs: int = 0
    titles: list[str] = field(default_factory=list)  # SVG tooltips, in order
    text: str = ""  # all visible text

    def figures(self) -> dict[str, str]:
        """The summary table as label -> value."""
        return {row[0]: row[1] for row in self.tables["figures"]}


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = ReportPage()
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._title: list[str] | None = None
        self._in_style = False
        self._in_svg = False
        self._pair_group_dashed = False
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for key in ("src", "href", "xlink:href"):
            if key in values:
                self.page.links.append(values[key])
        if "style" in values and "url(" in values["style"]:
            self.page.links.append(values["style"])
        classes = values.get("class", "").split()
        self.page.elements[tag + "".join(f".{c}" for c in classes)] += 1
        if tag == "line" and "stroke-dasharray" in values:
            self._pair_group_dashed = True
        if tag == "g" and "pair" in classes:
            self._pair_group_dashed = False
        if tag == "table":
            self._table = values.get("id", f"table-{len(self.page.tables)}")
            self.page.tables[self._table] = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "title" and self._in_svg:
            self._title = []
        elif tag == "style":
            self._in_style = True
        elif tag == "svg":
            self._in_svg = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.page.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "title" and self._title is not None:
            self.page.titles.append("".join(self._title))
            self._title = None
        elif tag == "g" and self._pair_group_dashed:
            self.page.dashed_pairs += 1
            self._pair_group_dashed = False
        elif tag == "style":
            self._in_style = False
        elif tag == "svg":
            self._in_svg = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            if "url(" in data:
                self.page.links.append(data)
            return
        if self._cell is not None:
            self._cell.append(data)
        if self._title is not None:
            self._title.append(data)
        self._text.append(data)


def parse_report(text: str) -> ReportPage:
    parser = _Parser()
    parser.feed(text)
    parser.close()
    parser.page.text = "".join(parser._text)
    return parser.page
