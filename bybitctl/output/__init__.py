"""Printing answers: `-o table|wide|json|jsonl|csv|text|raw`, `--fields` and `--query`.

- `frame`: an answer as named rows (klines, the order book ladder, `parent.child` fields);
- `cells`: one value as text (exact exchange strings; readable times in tables);
- `formats`: the machine formats; `table`: the people formats (rich, loaded only there);
- `pager`: long tables through `$PAGER` on a terminal;
- `writer`: pages, `--query` and `--fields` to one format (`PageWriter`, `render`).

Importing this package loads none of orjson, jmespath or rich: they come when used.
"""

from bybitctl.output.frame import list_key, rows_of
from bybitctl.output.writer import FORMATS, PageWriter, compile_query, default_format, render

__all__ = [
    "FORMATS",
    "PageWriter",
    "compile_query",
    "default_format",
    "list_key",
    "render",
    "rows_of",
]
