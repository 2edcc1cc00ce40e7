"""Real tweet files in the store: a truncated stream capture and a hand-truncated file are quarantined."""

from __future__ import annotations

from pathlib import Path

import orjson

from nom import Store, dumps


def naive_nom_file(lines: list[bytes], first_id: int) -> bytes:
    """What a converter that splices each stream line into a NOM object writes, without checking the lines."""
    parts = [b'{"id":%d,"type":"data.tweet-stream","data":%s}' % (first_id + n, line.rstrip(b"\n"))
             for n, line in enumerate(lines)]
    return b"[" + b",".join(parts) + b"]"


def test_truncated_stream_capture_and_hand_truncated_file_are_quarantined(store: Store, tweets_dir: Path) -> None:
    lines = (tweets_dir / "streaming_output_with_error.jsonl").read_bytes().splitlines(keepends=True)
    good_lines = lines[:-1]
    tweets = [orjson.loads(line)["data"] for line in good_lines]
    ids = store.new_ids("stream", len(tweets))
    half = len(tweets) // 2
    store.append("stream", [{"id": i, "type": "data.tweet-stream", "data": t} for i, t in zip(ids[:half], tweets)])
    store.append("stream", [{"id": i, "type": "data.tweet-stream", "data": t}
                            for i, t in zip(ids[half:], tweets[half:])])
    folder = store.root / "stream"
    (folder / "100.json").write_bytes(naive_nom_file(lines, 1))  # its last line is truncated
    whole = dumps([{"id": 5, "type": "data.tweet-stream", "data": tweets[0]}])
    (folder / "200.json").write_bytes(whole[: len(whole) // 2])  # cut by hand

    scan = store.scan("stream")
    scanned = list(scan)
    assert [o["data"]["id"] for o in scanned] == [t["id"] for t in tweets]
    assert sorted(q.filename for q in scan.quarantined) == ["100.json", "200.json"]
    reasons = {q.filename: q.reason for q in store.quarantined("stream")}
    assert set(reasons) == {"100.json", "200.json"}
    assert all("truncated or invalid JSON" in r for r in reasons.values())
    assert sorted(p.name for p in (folder / "quarantine").glob("*.json")) == ["100.json", "200.json"]
    usage = store.usage("stream")
    assert (usage.objects, usage.files, usage.quarantined) == (len(tweets), 2, 2)
    # a later scan still reads the rest, and does not report the same files again
    assert len(list(store.scan("stream"))) == len(tweets)
