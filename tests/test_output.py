"""Renderers: every format, exact exchange strings, --fields, --query, paging, broken pipes."""

from __future__ import annotations

import csv
import io
import json
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


def test_csv_header_rows_and_nested_values_as_compact_json():
    rows = list(csv.reader(io.StringIO(out_of(TICKERS, "csv"))))
    assert rows == [
        ["symbol", "lastPrice", "size", "meta"],
        ["BTCUSDT", "65000.10", "0.00000001", '{"a":[1,"2"]}'],
        ["ETHUSDT", "3000.00", "1.50", ""],
    ]


def test_csv_of_a_plain_object_is_one_row():
    env = {"result": {"timeSecond": "1", "timeNano": "2"}}
    assert out_of(env, "csv") == "timeSecond,timeNano\n1,2\n"


def test_table_off_a_terminal_is_plain_and_untruncated():
    long = "x" * 500
    text = out_of(
        envelope([{"symbol": "BTCUSDT", "note": long, "markup": "[bold]hi[/bold]"}]), "table"
    )
    assert "\x1b[" not in text
    assert long in text and "[bold]hi[/bold]" in text
    assert all(line == line.rstrip() for line in text.splitlines())
    assert text.splitlines()[0].split() == ["symbol", "note", "markup"]


def test_table_of_a_plain_object_is_key_value():
    text = out_of({"result": {"timeSecond": "1700000000", "nested": {"a": "1"}}}, "table")
    lines = [line.split() for line in text.splitlines()]
    assert lines[0] == ["key", "value"]
    assert ["timeSecond", "1700000000"] in lines and ["nested", '{"a":"1"}'] in lines


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


def test_fields_are_ignored_for_bare_values():
    assert out_of(TICKERS, "csv", query="list[].size", fields=["size"]) == (
        "value\n0.00000001\n1.50\n"
    )


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
    with pytest.raises(UsageError, match="table, json, jsonl, csv, raw"):
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
