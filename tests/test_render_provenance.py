"""The shell's provenance lines: times in UTC, open ends in words, the inputs named (nectar.render)."""

from __future__ import annotations

from nectar.render import provenance_lines


def test_a_standing_reductions_provenance_reads_as_words_and_times() -> None:
    prov = {"inputs": {"job": "demo", "from": None, "to": "now", "snapshot": None, "chain": "ab" * 32, "files": 12},
            "map": {"name": "words"}, "reduce": {"name": "sum", "sha256": "cd" * 32}, "engine": "local",
            "nectar": "0.9", "started": 1_700_000_000.25, "ended": 1_700_000_002.75, "objects": 1200,
            "resultSha256": "ef" * 32}
    first, second = provenance_lines(prov)
    assert first == f"provenance: demo over hash chain {'ab' * 32} (12 files, the start .. now)"
    assert "None" not in first + second
    assert "ran 2023-11-14 22:13:20 UTC for 2.50s" in second
    assert "reduce sum (source sha256 cdcdcdcdcdcd)" in second and "1,200 objects" in second


def test_a_snapshot_apply_names_its_snapshot_and_id_range() -> None:
    prov = {"inputs": {"job": "j", "from": 1_700_000_000 * 10**9, "to": 1_700_000_060 * 10**9,
                       "snapshot": "12" * 32, "files": 3},
            "map": {"name": "hashtags"}, "reduce": {"name": "count"}, "engine": "spark", "started": 1_700_000_000.0}
    first, second = provenance_lines(prov)
    assert first.endswith("(3 files, 2023-11-14 22:13:20 .. 2023-11-14 22:14:20)")
    assert f"snapshot {'12' * 32}" in first
    assert "running since 2023-11-14 22:13:20 UTC" in second and "spark engine" in second
