"""Renderers: every format, exact exchange strings, named rows (klines, the book ladder),
--fields, --query, tables that fit a terminal, the pager, paging, broken pipes."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bybitctl.config import Settings
from bybitctl.errors import UsageError
from bybitctl.output import FORMATS, PageWriter, default_format, render


def envelope(rows, **extra):
    return {
        "retCode": 0,
        "retMsg": "OK",
        "result": {"category": "linear", "list": rows, "nextPageCursor": "", **extra},
        "retExtInfo": {},
        "time": 1700000000000,
    }


ROWS = [
    {"symbol": "BTCUSDT", "lastPrice": "65000.10", "size": "0.00000001", "meta": {"a": [1, "2"]}},
    {"symbol": "ETHUSDT", "lastPrice": "3000.00", "size": "1.50", "meta": None},
]
TICKERS = envelope(ROWS)


def out_of(env, fmt, **kw) -> str:
    buf = io.StringIO()
    render(env, fmt, out=buf, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", FORMATS)
def test_exchange_numbers_keep_exact_strings(fmt):
    text = out_of(TICKERS, fmt)
    for exact in ("65000.10", "0.00000001", "3000.00", "1.50"):
        assert exact in text
    assert "1e-08" not in text and "65000.1 " not in text


def test_json_prints_the_result_and_raw_the_envelope():
    assert json.loads(out_of(TICKERS, "json")) == TICKERS["result"]
    assert json.loads(out_of(TICKERS, "raw")) == TICKERS


def test_jsonl_one_row_per_line_and_object_on_one_line():
    lines = out_of(TICKERS, "jsonl").splitlines()
    assert [json.loads(line) for line in lines] == ROWS
    server_time = {"result": {"timeSecond": "1700000000", "timeNano": "1700000000000000000"}}
    assert (
        out_of(server_time, "jsonl")
        == '{"timeSecond":"1700000000","timeNano":"1700000000000000000"}\n'
    )


def test_first_list_value_is_the_rows_when_there_is_no_list_key():
    env = {"result": {"rows": [{"coin": "BTC"}, {"coin": "ETH"}], "cursor": "x"}}
    assert out_of(env, "jsonl") == '{"coin":"BTC"}\n{"coin":"ETH"}\n'


BOOK = {
    "result": {
        "s": "BTCUSDT",
        "b": [["65000.1", "0.5"], ["65000.0", "1.25"]],
        "a": [["65000.2", "0.75"]],
        "ts": 1700000000000,
    }
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_result_with_two_lists_keeps_both(fmt):
    """An order book's bids and asks both print; neither is taken for "the rows"."""
    text = out_of(BOOK, fmt)
    for exact in ("65000.1", "65000.0", "65000.2", "0.75", "BTCUSDT"):
        assert exact in text, fmt
    if fmt == "jsonl":
        assert [json.loads(line) for line in text.splitlines()] == [BOOK["result"]]
    if fmt == "csv":
        header, row = csv.reader(io.StringIO(text))
        assert header == ["s", "b", "a", "ts"] and json.loads(row[2]) == [["65000.2", "0.75"]]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "table"])
def test_fields_of_a_plain_object_stay_one_object(fmt):
    """Picking `s,a` leaves one list, which must not turn the object into rows of asks."""
    text = out_of(BOOK, fmt, fields=["s", "a"])
    assert "BTCUSDT" in text and "65000.2" in text and "65000.1" not in text
    if fmt == "csv":
        assert text.splitlines()[0] == "s,a"
    if fmt == "jsonl":
        assert json.loads(text) == {"s": "BTCUSDT", "a": [["65000.2", "0.75"]]}


def test_csv_and_table_print_nothing_for_a_null_result():
    """A --query that matches nothing gives no header and no empty row, like the table."""
    env = {"result": {"list": []}}
    for fmt in ("csv", "table"):
        assert out_of(env, fmt, query="list[0].price") == ""
    assert out_of(env, "json", query="list[0].price") == "null\n"


def test_csv_spreads_objects_into_columns_and_keeps_lists_as_compact_json():
    rows = list(csv.reader(io.StringIO(out_of(TICKERS, "csv"))))
    assert rows == [
        ["symbol", "lastPrice", "size", "meta.a", "meta"],
        ["BTCUSDT", "65000.10", "0.00000001", '[1,"2"]', ""],
        ["ETHUSDT", "3000.00", "1.50", "", ""],
    ]


def test_csv_of_a_plain_object_is_one_row():
    env = {"result": {"timeSecond": "1", "timeNano": "2"}}
    assert out_of(env, "csv") == "timeSecond,timeNano\n1,2\n"


def test_table_off_a_terminal_is_plain_and_untruncated():
    long = "x" * 500
    rows = [{"symbol": s, "note": long, "markup": "[bold]hi[/bold]"} for s in ("BTC", "ETH")]
    text = out_of(envelope(rows), "table")
    assert "\x1b[" not in text
    assert long in text and "[bold]hi[/bold]" in text
    assert all(line == line.rstrip() for line in text.splitlines())
    assert text.splitlines()[0].split() == ["symbol", "note", "markup"]
    assert len(text.splitlines()) == 3


def test_table_of_a_plain_object_is_field_value_lines():
    text = out_of({"result": {"timeSecond": "1700000000", "nested": {"a": "1"}}}, "table")
    assert text.splitlines() == ["timeSecond  2023-11-14T22:13:20Z", "nested.a    1"]


def test_empty_list_prints_no_rows():
    assert out_of(envelope([]), "jsonl") == ""
    assert out_of(envelope([]), "csv") == ""
    assert out_of(envelope([]), "csv", fields=["symbol"]) == "symbol\n"
    assert json.loads(out_of(envelope([]), "json"))["list"] == []


# --- --fields -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_fields_pick_columns_in_every_format(fmt):
    text = out_of(TICKERS, fmt, fields=["symbol", "size"])
    assert "BTCUSDT" in text and "0.00000001" in text
    assert "65000.10" not in text and "lastPrice" not in text


def test_fields_keep_order_and_result_shape():
    result = json.loads(out_of(TICKERS, "json", fields=["size", "symbol"]))
    assert result["category"] == "linear"
    assert [list(r) for r in result["list"]] == [["size", "symbol"]] * 2
    assert out_of(TICKERS, "csv", fields=["size", "symbol"]).splitlines()[0] == "size,symbol"


def test_unknown_field_lists_the_valid_ones():
    with pytest.raises(UsageError) as info:
        out_of(TICKERS, "json", fields=["symbol", "price"])
    assert info.value.exit_code == 2
    assert "price" in info.value.message
    assert "valid: symbol, lastPrice, size, meta" in info.value.message


def test_fields_on_a_plain_object():
    env = {"result": {"timeSecond": "1", "timeNano": "2"}}
    assert json.loads(out_of(env, "json", fields=["timeNano"])) == {"timeNano": "2"}
    with pytest.raises(UsageError, match="timeSecond, timeNano"):
        out_of(env, "json", fields=["nope"])


# --- --query --------------------------------------------------------------------------


def test_query_applies_to_the_result_before_rendering():
    assert json.loads(out_of(TICKERS, "json", query="list[].lastPrice")) == ["65000.10", "3000.00"]
    assert (
        out_of(TICKERS, "jsonl", query="list[?symbol=='ETHUSDT']")
        == json.dumps(ROWS[1], separators=(",", ":")) + "\n"
    )
    assert out_of(TICKERS, "csv", query="list[0].size") == "value\n0.00000001\n"
    raw = json.loads(out_of(TICKERS, "raw", query="category"))
    assert raw["result"] == "linear" and raw["retCode"] == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_fields_on_bare_values_is_an_error(fmt):
    for query in ("list[].size", "list[0].size"):
        with pytest.raises(UsageError, match="--fields picks fields of rows") as info:
            out_of(TICKERS, fmt, query=query, fields=["size"])
        assert info.value.exit_code == 2


def test_query_then_fields():
    text = out_of(TICKERS, "jsonl", query="list[?symbol=='BTCUSDT']", fields=["lastPrice"])
    assert text == '{"lastPrice":"65000.10"}\n'


@pytest.mark.parametrize("expr", ["list[", "foo bar", "list[?"])
def test_bad_query_fails_before_anything_is_sent(expr):
    with pytest.raises(UsageError) as info:
        PageWriter("json", query=expr, out=io.StringIO())
    assert info.value.exit_code == 2 and expr in info.value.message
    assert "\n" not in info.value.message


def test_query_type_error_is_a_usage_error():
    with pytest.raises(UsageError, match="failed"):
        out_of(TICKERS, "json", query="abs(category)")


def test_unknown_format():
    with pytest.raises(UsageError, match="table, wide, json, jsonl, csv, text, raw"):
        PageWriter("yaml")


# --- paging ---------------------------------------------------------------------------

PAGES = [
    envelope([{"id": "1", "qty": "0.010"}, {"id": "2", "qty": "0.020"}], nextPageCursor="c1"),
    envelope([{"id": "3", "qty": "0.030"}], nextPageCursor="c2"),
    envelope([{"id": "4", "qty": "0.040"}], nextPageCursor=""),
]


def test_jsonl_streams_rows_as_pages_arrive():
    buf = io.StringIO()
    writer = PageWriter("jsonl", out=buf)
    seen = []
    for page in PAGES:
        assert writer.page(page) is True
        seen.append(buf.getvalue().count("\n"))
    writer.close()
    assert seen == [2, 3, 4]
    assert [json.loads(line)["qty"] for line in buf.getvalue().splitlines()] == [
        "0.010",
        "0.020",
        "0.030",
        "0.040",
    ]


@pytest.mark.parametrize("fmt", ["json", "csv", "table", "raw"])
def test_buffered_formats_print_once_at_close(fmt):
    buf = io.StringIO()
    writer = PageWriter(fmt, out=buf)
    for page in PAGES:
        writer.page(page)
    assert buf.getvalue() == ""
    writer.close()
    assert all(f"0.0{i}0" in buf.getvalue() for i in range(1, 5))


def test_combined_json_keeps_last_page_fields():
    buf = io.StringIO()
    writer = PageWriter("json", out=buf)
    for page in PAGES[:2]:
        writer.page(page)
    writer.close()
    result = json.loads(buf.getvalue())
    assert [r["id"] for r in result["list"]] == ["1", "2", "3"]
    assert result["nextPageCursor"] == "c2"


def test_combined_raw_is_one_envelope():
    buf = io.StringIO()
    writer = PageWriter("raw", out=buf)
    for page in PAGES:
        writer.page(page)
    writer.close()
    combined = json.loads(buf.getvalue())
    assert combined["retCode"] == 0 and combined["time"] == PAGES[-1]["time"]
    assert [r["id"] for r in combined["result"]["list"]] == ["1", "2", "3", "4"]


def test_query_applies_to_the_combined_result_even_for_jsonl():
    buf = io.StringIO()
    writer = PageWriter("jsonl", query="length(list)", out=buf)
    for page in PAGES:
        writer.page(page)
    assert buf.getvalue() == ""
    writer.close()
    assert buf.getvalue() == "4\n"


def test_streamed_fields_are_checked():
    writer = PageWriter("jsonl", fields=["id", "price"], out=io.StringIO())
    with pytest.raises(UsageError, match="valid: id, qty"):
        writer.page(PAGES[0])


# --- properties -----------------------------------------------------------------------

cell_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
row_lists = st.lists(
    st.fixed_dictionaries({"a": cell_text, "b": cell_text, "c": cell_text}), min_size=1, max_size=8
)


@given(row_lists)
def test_csv_round_trips_any_string(rows):
    parsed = list(csv.DictReader(io.StringIO(out_of(envelope(rows), "csv"), newline="")))
    assert parsed == rows


@given(row_lists)
def test_jsonl_round_trips_any_string(rows):
    text = out_of(envelope(rows), "jsonl")
    assert [json.loads(line) for line in text.split("\n")[:-1]] == rows


# --- default format and broken pipes --------------------------------------------------


def test_default_format():
    assert default_format(Settings(), isatty=True) == "table"
    assert default_format(Settings(), isatty=False) == "json"
    assert default_format(Settings(output="csv"), isatty=True) == "csv"


def test_broken_pipe_is_quiet_and_stops_paging():
    script = textwrap.dedent(
        """
        import sys
        from bybitctl.output import PageWriter
        page = {"result": {"list": [{"i": str(i), "p": "0.1"} for i in range(5000)]}}
        writer = PageWriter("jsonl")
        for n in range(200):
            if not writer.page(page):
                print("stopped", n, file=sys.stderr)
                break
        writer.close()
        print("done", flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout.readline() == b'{"i":"0","p":"0.1"}\n'
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert stderr.startswith("stopped") and "Traceback" not in stderr
    assert "BrokenPipe" not in stderr and "Exception ignored" not in stderr


def test_broken_pipe_in_a_buffered_format_is_quiet():
    script = textwrap.dedent(
        """
        from bybitctl.output import render
        render({"result": {"list": [{"i": str(i)} for i in range(100000)]}}, "csv")
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout.readline() == b"i\n"
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""


# --- named rows: klines and the book ladder ---------------------------------------------

KLINES = {
    "retCode": 0,
    "result": {
        "symbol": "BTCUSDT",
        "category": "linear",
        "list": [
            ["1700003600000", "65010.5", "65100.0", "64990.0", "65050.0", "12.500", "812345.6"],
            ["1700000000000", "65000.0", "65020.0", "64900.0", "65010.5", "3.000", "195000.1"],
        ],
    },
}
LEVELS = {
    "retCode": 0,
    "result": {
        "s": "BTCUSDT",
        "b": [["65000.1", "0.5"], ["65000.0", "1.25"]],
        "a": [["65000.2", "0.75"]],
        "ts": 1700000000000,
        "u": 7,
        "seq": 9,
    },
}


def view(shape=None, columns=(), nested=(), empty=None):
    from bybitctl.catalog import View

    return View(shape=shape, columns=tuple(columns), nested=tuple(nested), empty=empty)


KLINE_VIEW = view("kline", ["start", "open", "high", "low", "close", "volume", "turnover"])
BOOK_VIEW = view("orderbook", ["bidCum", "bidSize", "bid", "ask", "askSize", "askCum"])


def test_klines_are_named_in_every_row_format_and_sent_as_is_in_json():
    first = {"start": "1700003600000", "open": "65010.5", "high": "65100.0", "low": "64990.0",
             "close": "65050.0", "volume": "12.500", "turnover": "812345.6"}  # fmt: skip
    jsonl = out_of(KLINES, "jsonl", view=KLINE_VIEW).splitlines()
    assert json.loads(jsonl[0]) == first
    rows = list(csv.DictReader(io.StringIO(out_of(KLINES, "csv", view=KLINE_VIEW))))
    assert rows[0] == first
    text = out_of(KLINES, "text", view=KLINE_VIEW, fields=["start", "close"])
    assert text == "1700003600000\t65050.0\n1700000000000\t65010.5\n"
    table = out_of(KLINES, "table", view=KLINE_VIEW).splitlines()
    assert table[0].split() == list(first)
    assert table[1].split()[0] == "2023-11-14T23:13:20Z"  # a readable UTC time in a table
    assert json.loads(out_of(KLINES, "json", view=KLINE_VIEW)) == KLINES["result"]
    picked = json.loads(out_of(KLINES, "json", view=KLINE_VIEW, fields=["close"]))
    assert picked["list"] == [{"close": "65050.0"}, {"close": "65010.5"}]


def test_the_book_is_a_ladder_in_every_row_format():
    rows = [json.loads(line) for line in out_of(LEVELS, "jsonl", view=BOOK_VIEW).splitlines()]
    assert rows == [
        {"bidCum": "0.5", "bidSize": "0.5", "bid": "65000.1", "ask": "65000.2",
         "askSize": "0.75", "askCum": "0.75"},
        {"bidCum": "1.75", "bidSize": "1.25", "bid": "65000.0", "ask": "", "askSize": "",
         "askCum": ""},
    ]  # fmt: skip
    header = out_of(LEVELS, "csv", view=BOOK_VIEW).splitlines()[0]
    assert header == "bidCum,bidSize,bid,ask,askSize,askCum"
    assert out_of(LEVELS, "text", view=BOOK_VIEW, fields=["bid", "ask"]).splitlines() == [
        "65000.1\t65000.2",
        "65000.0\t",
    ]
    table = out_of(LEVELS, "table", view=BOOK_VIEW).splitlines()
    assert table[0].split()[:2] == ["BTCUSDT", "2023-11-14T22:13:20Z"]
    assert "spread 0.1" in table[0] and "u 7" in table[0] and "seq 9" in table[0]
    assert table[1].split() == ["bidCum", "bidSize", "bid", "ask", "askSize", "askCum"]
    assert json.loads(out_of(LEVELS, "json", view=BOOK_VIEW)) == LEVELS["result"]


def test_an_rpi_level_counts_both_sizes():
    book = {"result": {"s": "X", "b": [["10", "1", "2"]], "a": [["11", "0.5", "0"]]}}
    (row,) = [json.loads(x) for x in out_of(book, "jsonl", view=BOOK_VIEW).splitlines()]
    assert (row["bidSize"], row["bidCum"], row["askSize"]) == ("1+2", "3", "0.5+0")


def test_a_query_answer_is_its_own_shape():
    """After --query the catalogue's shape no longer applies: the query's answer prints."""
    assert out_of(LEVELS, "text", view=BOOK_VIEW, query="b[0][0]") == "65000.1\n"
    assert out_of(KLINES, "jsonl", view=KLINE_VIEW, query="list[0][4]") == '"65050.0"\n'


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("env", "shown", "fields"),
    [
        (KLINES, KLINE_VIEW, ["close", "vwap"]),
        (LEVELS, BOOK_VIEW, ["bid", "b"]),
        (TICKERS, None, ["symbol", "price"]),
        ({"result": {"timeSecond": "1"}}, None, ["timeSecond", "nano"]),
    ],
)
def test_an_unknown_field_is_an_error_for_every_shape(fmt, env, shown, fields):
    with pytest.raises(UsageError, match=f"unknown field\\(s\\) for --fields: {fields[1]};"):
        out_of(env, fmt, view=shown, fields=fields)


def test_fields_of_an_empty_list_are_checked_against_the_documented_answer():
    documented = {"list": [{"orderId": "1", "symbol": "X", "priceFilter": {"tickSize": "0.1"}}]}
    for fields in (["orderId"], ["priceFilter.tickSize"], ["priceFilter"]):
        buf = io.StringIO()
        writer = PageWriter("csv", fields, out=buf, example=lambda: documented)
        writer.page(envelope([]))
        writer.close()
        assert buf.getvalue() == ",".join(fields) + "\n"
    writer = PageWriter("csv", ["price"], out=io.StringIO(), example=lambda: documented)
    writer.page(envelope([]))
    with pytest.raises(UsageError, match=r"valid: orderId, symbol, priceFilter\.tickSize"):
        writer.close()


def test_csv_of_an_empty_list_still_prints_its_header():
    documented = {"list": [{"orderId": "1", "symbol": "X", "priceFilter": {"tickSize": "0.1"}}]}
    buf = io.StringIO()
    writer = PageWriter("csv", out=buf, example=lambda: documented)
    writer.page(envelope([]))
    writer.close()
    assert buf.getvalue() == "orderId,symbol,priceFilter.tickSize\n"
    assert out_of(envelope([]), "csv", view=KLINE_VIEW) == (
        "start,open,high,low,close,volume,turnover\n"
    )


# --- text: values for scripts -----------------------------------------------------------


def test_text_prints_bare_values_and_tab_separated_rows():
    assert out_of(TICKERS, "text", query="list[0].lastPrice") == "65000.10\n"
    assert out_of(TICKERS, "text", query="list[].lastPrice") == "65000.10\n3000.00\n"
    assert out_of(TICKERS, "text", fields=["symbol", "meta"]) == (
        'BTCUSDT\t{"a":[1,"2"]}\nETHUSDT\t\n'
    )
    assert out_of(TICKERS, "text", query="list[5]") == ""
    assert out_of(TICKERS, "text", fields=["size", "symbol"]) == (
        "0.00000001\tBTCUSDT\n1.50\tETHUSDT\n"
    )
    assert out_of({"result": {"a": True, "b": None, "c": 3}}, "text") == "true\t\t3\n"


def test_text_escapes_what_would_break_a_line_as_jq_tsv_does():
    env = envelope([{"note": "a\tb\nc\\d", "n": "1"}])
    assert out_of(env, "text") == "a\\tb\\nc\\\\d\t1\n"


def test_text_streams_pages_as_they_arrive():
    buf = io.StringIO()
    writer = PageWriter("text", ["qty"], out=buf)
    counts = []
    for page in PAGES:
        writer.page(page)
        counts.append(buf.getvalue().count("\n"))
    writer.close()
    assert counts == [2, 3, 4] and buf.getvalue().split() == ["0.010", "0.020", "0.030", "0.040"]


# --- tables on a terminal ---------------------------------------------------------------


class Tty(io.StringIO):
    """A stdout that says it is a terminal."""

    def isatty(self) -> bool:
        return True


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def on_terminal(monkeypatch, env, fmt="table", width=60, **kw):
    """(stdout, stderr) of rendering `env` on a terminal `width` columns wide, as the
    person reads it (styles taken out)."""
    monkeypatch.setenv("COLUMNS", str(width))
    buf, err = Tty(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    writer = PageWriter(fmt, out=buf, pager=False, **kw)
    writer.page(env)
    writer.close()
    return ANSI.sub("", buf.getvalue()), err.getvalue()


WIDE_ROWS = envelope(
    [
        {"symbol": "BTCUSDT", "lastPrice": "65000.10", "orderId": "a" * 36, "qty": "0.010",
         "createdTime": "1700000000000"},
        {"symbol": "ETHUSDT", "lastPrice": "3000.00", "orderId": "b" * 36, "qty": "1.50",
         "createdTime": "1700000060000"},
    ]
)  # fmt: skip


def test_a_table_drops_whole_columns_from_the_right_and_says_which(monkeypatch):
    out, err = on_terminal(monkeypatch, WIDE_ROWS, width=60)
    lines = out.splitlines()
    assert lines[0].split() == ["symbol", "lastPrice", "orderId"]
    assert all(len(line) <= 60 for line in lines)
    assert lines[1].split() == ["BTCUSDT", "65000.10", "a" * 36]  # whole cells, one line each
    # the names do not fit beside the words: they get a line of their own
    assert err == "note: 2 columns did not fit (-o wide shows all):\nqty, createdTime\n"
    err = on_terminal(monkeypatch, WIDE_ROWS, width=70)[1]
    assert err == "note: 1 column did not fit: createdTime (-o wide shows all)\n"
    out, err = on_terminal(monkeypatch, WIDE_ROWS, width=120)
    assert out.splitlines()[0].split() == ["symbol", "lastPrice", "orderId", "qty", "createdTime"]
    assert out.splitlines()[1].endswith("2023-11-14T22:13:20Z") and err == ""


def test_numbers_align_right_and_text_left(monkeypatch):
    lines = on_terminal(monkeypatch, WIDE_ROWS, width=200)[0].splitlines()
    assert lines[1].startswith("BTCUSDT   65000.10") and lines[2].startswith("ETHUSDT    3000.00")


def test_a_narrow_column_never_folds_even_alone(monkeypatch):
    out, err = on_terminal(monkeypatch, WIDE_ROWS, width=10)
    assert out.splitlines() == ["symbol", "BTCUSDT", "ETHUSDT"] and "4 columns" in err


def test_the_view_picks_default_columns_and_wide_every_field(monkeypatch):
    shown = view(columns=["symbol", "qty", "nope"])
    out, _ = on_terminal(monkeypatch, WIDE_ROWS, view=shown, width=200)
    assert out.splitlines()[0].split() == ["symbol", "qty"]
    out, _ = on_terminal(monkeypatch, WIDE_ROWS, "wide", view=shown, width=200)
    assert out.splitlines()[0].split() == ["symbol", "lastPrice", "orderId", "qty", "createdTime"]


def test_a_wide_table_too_wide_for_the_terminal_prints_blocks(monkeypatch):
    out, err = on_terminal(monkeypatch, WIDE_ROWS, "wide", width=60)
    blocks = [b.splitlines() for b in out.split("\n\n")]
    assert len(blocks) == 2 and err == ""
    assert [line.split()[0] for line in blocks[0]] == [
        "symbol", "lastPrice", "orderId", "qty", "createdTime"
    ]  # fmt: skip
    assert blocks[1][2].split() == ["orderId", "b" * 36]


WALLET = envelope(
    [
        {
            "accountType": "UNIFIED",
            "totalEquity": "100.5",
            "coin": [
                {"coin": "USDT", "equity": "100.5", "walletBalance": "100", "locked": "0"},
                {"coin": "BTC", "equity": "0.001", "walletBalance": "0.001", "locked": "0"},
            ],
        }
    ]
)


def test_one_row_is_field_value_lines_and_a_list_inside_it_a_table(monkeypatch):
    shown = view(columns=["accountType", "totalEquity"], nested=[("coin", ("coin", "equity"))])
    lines = on_terminal(monkeypatch, WALLET, view=shown, width=80)[0].splitlines()
    assert lines == [
        "accountType  UNIFIED",
        "totalEquity  100.5",
        "",
        "coin",
        "coin  equity",
        "USDT   100.5",
        "BTC    0.001",
    ]
    assert all("{" not in line for line in on_terminal(monkeypatch, WALLET, "wide")[0].split("\n"))


def test_an_empty_list_says_so_on_a_terminal_and_nothing_off_one(monkeypatch):
    out, _ = on_terminal(monkeypatch, envelope([]), view=view(empty="no open orders"))
    assert out == "no open orders\n"
    assert out_of(envelope([]), "table", view=view(empty="no open orders")) == ""
    written = {"retCode": 0, "retMsg": "OK", "result": {}}
    assert on_terminal(monkeypatch, written)[0] == "OK\n"


def test_times_are_readable_in_tables_and_raw_elsewhere():
    env = {"result": {"createdTime": "1700000000000", "ts": 1700000000000, "seq": "1700000000000",
                      "timeSecond": "1700000000", "deliveryTime": "0"}}  # fmt: skip
    table = dict(line.split(maxsplit=1) for line in out_of(env, "table").splitlines())
    assert table == {
        "createdTime": "2023-11-14T22:13:20Z",
        "ts": "2023-11-14T22:13:20Z",
        "seq": "1700000000000",  # not a time by its name
        "timeSecond": "2023-11-14T22:13:20Z",
        "deliveryTime": "0",  # not an epoch time
    }
    assert out_of(env, "text") == "1700000000000\t1700000000000\t1700000000000\t1700000000\t0\n"


# --- the pager --------------------------------------------------------------------------


def test_a_table_taller_than_the_terminal_goes_through_the_pager(monkeypatch, tmp_path):
    paged = tmp_path / "paged"
    rows = envelope([{"i": str(i)} for i in range(30)])
    env = {"PAGER": f"cat > {paged}", "LINES": "10"}
    buf = Tty()
    writer = PageWriter("table", out=buf, env=env)
    writer.page(rows)
    writer.close()
    assert buf.getvalue() == "" and len(paged.read_text().splitlines()) == 31
    for pager, lines, rows_env in ((True, "100", rows), (False, "10", rows)):
        buf, paged_again = Tty(), tmp_path / "again"
        env = {"PAGER": f"cat > {paged_again}", "LINES": lines}
        writer = PageWriter("table", out=buf, env=env, pager=pager)
        writer.page(rows_env)
        writer.close()
        assert len(buf.getvalue().splitlines()) == 31 and not paged_again.exists()


@pytest.mark.parametrize("value", ["", "cat", "  "])
def test_an_empty_pager_or_cat_prints_directly(value):
    from bybitctl.output.pager import pager_command

    assert pager_command({"PAGER": value}) is None
    assert pager_command({"PAGER": "less -S"}) == "less -S"


# --- refusals ---------------------------------------------------------------------------

REFUSAL = {"retCode": 110001, "retMsg": "Order does not exist", "result": None,
           "retExtInfo": {}, "time": 1700000000000}  # fmt: skip


def test_raw_prints_a_refusal_whole_and_other_formats_print_nothing():
    for fmt in FORMATS:
        buf = io.StringIO()
        PageWriter(fmt, out=buf).refused(REFUSAL)
        assert (json.loads(buf.getvalue()) == REFUSAL) if fmt == "raw" else buf.getvalue() == ""
