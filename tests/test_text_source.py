"""Books as paragraphs (nom.books) and the collector's text source: encodings, line ends, the Gutenberg
markers, bad files, and a job that resumes after SIGKILL without storing a paragraph twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.errors import SourceError
from collector.sources import make_source
from conftest import wait_for
from nectar.errors import ServiceError
from nectar.testing import ServiceProcess
from nom import BookError, Store, book_job_id, book_type, check_book_name, paragraphs

BOOK = ("Title line\nby Someone\n\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n"
        "Chapter 1\n\nIt is a truth\nuniversally acknowledged.\n   \nDon’t _stop_.\n\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK X ***\nLicence text.\n")


def texts(found) -> list[str]:
    return [p.text for p in found]


def test_body_paragraphs_their_numbers_lines_and_offsets() -> None:
    raw = BOOK.encode()
    found = paragraphs(raw, "x.txt")
    assert texts(found) == ["Chapter 1", "It is a truth\nuniversally acknowledged.", "Don’t _stop_."]
    assert [(p.paragraph, p.line) for p in found] == [(3, 6), (4, 8), (5, 11)]
    for p in found:
        assert raw[p.offset:].startswith(p.text.split("\n")[0].encode()) and p.book == "x.txt"
    whole = paragraphs(raw, "x.txt", keep_header=True)
    assert texts(whole)[0] == "Title line\nby Someone" and texts(whole)[-1] == "Licence text."
    assert [p for p in whole if p.paragraph in (3, 4, 5)] == found  # numbers do not depend on the option
    assert "*** START OF THE PROJECT GUTENBERG EBOOK X ***" in texts(whole)


def test_bom_and_crlf_give_the_same_paragraphs_at_their_own_offsets() -> None:
    plain = paragraphs(BOOK.encode(), "x.txt")
    crlf = BOOK.replace("\n", "\r\n").encode()
    for raw in (b"\xef\xbb\xbf" + BOOK.encode(), crlf, b"\xef\xbb\xbf" + crlf):
        found = paragraphs(raw, "x.txt")
        assert texts(found) == texts(plain) and [p.line for p in found] == [p.line for p in plain]
        assert all(raw[p.offset:].startswith(p.text.split("\n")[0].encode()) for p in found)


def test_without_markers_the_whole_file_is_read_and_a_start_alone_runs_to_the_end() -> None:
    assert texts(paragraphs(b"one\n\ntwo\n", "x.txt")) == ["one", "two"]
    assert texts(paragraphs(b"head\n***START OF X\nbody\n\nmore", "x.txt")) == ["body", "more"]
    assert texts(paragraphs(b"", "x.txt")) == [] and texts(paragraphs(b"\n\n \r\n", "x.txt")) == []


def test_a_file_that_is_not_utf8_names_the_file_and_the_byte_offset() -> None:
    with pytest.raises(BookError) as caught:
        paragraphs(b"\xef\xbb\xbfok line\n\nbad \xff here", "bad.txt")
    assert "bad.txt" in str(caught.value) and "byte offset 16" in str(caught.value)


def test_book_names_and_job_ids() -> None:
    assert book_job_id("1342-0.txt") == "1342-0" and book_type("1342-0.txt") == "data.text-1342-0"
    assert book_job_id("Moby Dick.txt") == "moby-dick"
    for bad in ("../x.txt", "a/b.txt", "a\\b", "", None):
        with pytest.raises(BookError):
            check_book_name(bad)


def test_source_spec_errors_name_the_field(tmp_path: Path) -> None:
    book = tmp_path / "b.txt"
    book.write_text(BOOK)
    cases = [({"kind": "text"}, "source.path"), ({"kind": "text", "path": "missing.txt"}, "source.path"),
             ({"kind": "text", "path": "b.txt", "keepHeader": "yes"}, "source.keepHeader"),
             ({"kind": "text", "path": "b.txt", "lines": 3}, "source.lines")]
    for spec, field in cases:
        with pytest.raises(SourceError) as caught:
            make_source(spec, "b", base_dir=str(tmp_path))
        assert caught.value.field == field, spec
    source = make_source({"kind": "text", "path": ["b.txt", "b.txt"]}, "b", base_dir=str(tmp_path))
    assert source.type_word == "text" and not source.done
    items = source.read_batch(100).items()
    assert [i.key for i in items] == ["0:3", "0:4", "0:5", "1:3", "1:4", "1:5"] and source.done
    assert items[1].data == {"id": "0:4", "book": "b.txt", "paragraph": 4, "line": 8,
                             "offset": BOOK.encode().index(b"It is"),
                             "text": "It is a truth\nuniversally acknowledged."}


def test_a_text_job_resumes_after_sigkill_and_stores_each_paragraph_once(tmp_path: Path) -> None:
    book = tmp_path / "long.txt"
    book.write_text("".join(f"Paragraph {n} says don’t.\nIts second line.\n\n" for n in range(600)))
    root = tmp_path / "root"
    service = ServiceProcess("collector", root).start()
    store = Store(root)
    try:
        reply = service.call("newCollectorJob", jobName="book", searchTerms="long", collectorObjectsPerFile=10,
                             delayInMsBetweenObjects=0, jobId="long",
                             source={"kind": "text", "path": str(book), "rate": 300})
        assert reply["data"]["jobId"] == "long" and reply["data"]["typeReturned"] == "data.text-long"
        with pytest.raises(ServiceError) as caught:  # a job id that is taken is refused, nothing stored
            service.call("newCollectorJob", jobName="again", searchTerms="long", collectorObjectsPerFile=10,
                         delayInMsBetweenObjects=0, jobId="long", source={"kind": "text", "path": str(book)})
        assert caught.value.field == "jobId"
        wait_for(lambda: service.call("jobStatus", jobId="long")["objects"] >= 150, what="a first part stored")
        endpoint = service.endpoint
        service.kill()
        assert store.usage("long").objects < 600  # killed half way
        service = ServiceProcess("collector", root).start(endpoint=endpoint)
        wait_for(lambda: service.call("jobStatus", jobId="long")["state"] == "finished", timeout=30,
                 what="the book stored to its end")
    finally:
        service.kill()
    numbers = [o["data"]["paragraph"] for o in store.scan("long")]
    assert sorted(numbers) == list(range(1, 601)), "a paragraph missing or stored twice"
