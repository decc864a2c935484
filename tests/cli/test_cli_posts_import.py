"""``resonanz posts import FILE.csv`` against the in-process publishing double over real gRPC: request
mapping, the per-row report and ``--report`` file, file-level errors, BOM and semicolons, re-run
idempotency, dry runs, bounded concurrency and an unreachable service.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import resonanz.publishing.v1.publishing_service_pb2 as publishing_pb2
from cli_doubles import Platform, RunCli
from resonanz.common.v1 import content_pb2

VALID = """\
text,networks,account,targets,scheduled_at,local_time,time_zone,next_slot,labels,campaign_id,utm_source,draft
Erster Post,simulated,@acme,,2030-01-01T10:00+01:00,,,,summer;de,c-1,newsletter,
Zweiter Post,,,simulated:@acme;simulated:@acme_de,,2030-07-01T09:30,Europe/Berlin,,,,,yes
Dritter Post,simulated,@acme,,,,,true,,,,
"""


def _write(tmp_path: Path, text: str, name: str = "posts.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding, newline="")
    return path


def _creates(platform: Platform) -> list[publishing_pb2.CreatePostRequest]:
    return platform.publishing.recorder.requests("CreatePost")


def _by_text(platform: Platform) -> dict[str, publishing_pb2.CreatePostRequest]:
    return {r.text: r for r in _creates(platform)}


async def test_a_valid_file_creates_one_post_per_row(cli: RunCli, platform: Platform, tmp_path: Path) -> None:
    result = await cli("posts", "import", str(_write(tmp_path, VALID)))
    assert result.exit_code == 0, result.output
    sent = _by_text(platform)
    assert set(sent) == {"Erster Post", "Zweiter Post", "Dritter Post"}
    first = sent["Erster Post"]
    assert [(t.network, t.account) for t in first.targets] == [("simulated", "@acme")]
    assert first.scheduled_at.ToDatetime(tzinfo=UTC) == datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    assert list(first.labels) == ["summer", "de"]
    assert first.campaign_id == "c-1"
    assert first.utm.source == "newsletter"
    assert not first.draft
    second = sent["Zweiter Post"]
    assert [(t.network, t.account) for t in second.targets] == [
        ("simulated", "@acme"),
        ("simulated", "@acme_de"),
    ]
    assert second.local_time == publishing_pb2.LocalDateTime(
        date_time="2030-07-01T09:30", time_zone="Europe/Berlin"
    )
    assert second.draft
    third = sent["Dritter Post"]
    assert third.next_free_slot
    assert not third.HasField("scheduled_at")
    keys = {r.idempotency_key for r in sent.values()}
    assert len(keys) == 3
    assert all(k.startswith("csv-") for k in keys)
    assert "3 row(s)" in result.output
    assert "3 created" in result.output
    for number in ("2", "3", "4"):
        assert any(line.split("│")[1].strip() == number for line in result.output.splitlines() if "│" in line)
    assert "importing posts.csv" in result.output  # the progress bar
    statuses = sorted(content_pb2.PostStatus.Name(p.status) for p in platform.publishing.posts.values())
    assert statuses == ["POST_STATUS_DRAFT", "POST_STATUS_SCHEDULED", "POST_STATUS_SCHEDULED"]


async def test_an_own_idempotency_key_and_media_and_all_utm_columns(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    upload = tmp_path / "a.jpg"
    upload.write_bytes(b"jpeg")
    assert (await cli("media", "upload", str(upload))).exit_code == 0
    [media_id] = platform.media.stored
    text = (
        "idempotency_key,text,targets,media_ids,utm_source,utm_medium,utm_campaign,utm_term,utm_content\n"
        f"mine-1,Bild,simulated:@acme,{media_id},s,m,c,t,x\n"
    )
    result = await cli("posts", "import", str(_write(tmp_path, text)))
    assert result.exit_code == 0, result.output
    [request] = _creates(platform)
    assert request.idempotency_key == "mine-1"
    assert [m.id for m in request.media] == [media_id]
    assert request.utm == content_pb2.UtmParameters(
        source="s", medium="m", campaign="c", term="t", content="x"
    )


async def test_mixed_rows_report_each_and_write_an_error_file(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    long_text = "x" * 300
    text = (
        "text,targets,scheduled_at,draft\n"
        "Gut,simulated:@acme,,\n"  # row 2
        ",simulated:@acme,,\n"  # row 3: no text
        "Zeit,simulated:@acme,morgen früh,\n"  # row 4: bad time
        f"{long_text},simulated:@acme,,\n"  # row 5: refused by the service
        "Netz,mastodon:@acme,,vielleicht\n"  # row 6: bad bool (local) and unknown network (service)
        "Ohne Offset,simulated:@acme,2030-01-01T10:00,\n"  # row 7: no offset
        "Auch gut,simulated:@acme,2030-01-01T10:00Z,\n"  # row 8
    )
    report = tmp_path / "errors.csv"
    result = await cli("posts", "import", str(_write(tmp_path, text)), "--report", str(report))
    assert result.exit_code == 1, result.output
    assert {r.text for r in _creates(platform)} == {"Gut", long_text, "Auch gut"}
    assert len(platform.publishing.posts) == 2
    assert "2 created, 5 failed" in result.output
    assert "5 failed row(s) written to" in result.output
    out = " ".join(result.output.split())
    assert "text: must not be empty" in out
    assert "scheduled_at: 'morgen früh' is not an ISO 8601 time" in out
    assert "invalid_argument: text: is 300 characters as simulated counts them" in out
    assert "draft: 'vielleicht' is not true or false" in out
    assert "scheduled_at: '2030-01-01T10:00' has no UTC offset" in out

    raw = report.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # opens as UTF-8 in spreadsheets
    with report.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["text"] for r in rows] == ["", "Zeit", long_text, "Netz", "Ohne Offset"]
    assert list(rows[0]) == ["text", "targets", "scheduled_at", "draft", "idempotency_key", "error"]
    assert rows[1]["error"].startswith("scheduled_at: 'morgen früh' is not an ISO 8601 time")
    sent_long = next(r for r in _creates(platform) if r.text == long_text)
    assert rows[2]["idempotency_key"] == sent_long.idempotency_key  # the re-import reuses it
    assert rows[0]["idempotency_key"] == ""  # never sent

    # fix the rows in the report and import it again: the error column is ignored
    fixes = {
        "": {"text": "Jetzt mit Text"},
        "Zeit": {"scheduled_at": "2030-02-01T08:00+01:00"},
        long_text: {"text": "kurz"},
        "Netz": {"targets": "simulated:@acme", "draft": "no"},
        "Ohne Offset": {"scheduled_at": "2030-01-01T10:00+01:00"},
    }
    fixed_path = tmp_path / "fixed.csv"
    with fixed_path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, **fixes[row["text"]]})
    again = await cli("posts", "import", str(fixed_path))
    assert again.exit_code == 0, again.output
    assert "5 created" in again.output
    refixed = next(r for r in _creates(platform) if r.text == "kurz")
    assert refixed.idempotency_key == sent_long.idempotency_key
    # the long row was refused, so nothing exists under its key: the fixed row is created
    assert len(platform.publishing.posts) == 7


async def test_an_unknown_column_stops_before_sending_anything(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    text = "text,targets,sheduled_at\nHallo,simulated:@acme,2030-01-01T10:00Z\n"
    result = await cli("posts", "import", str(_write(tmp_path, text)))
    assert result.exit_code == 1
    assert "unknown column(s): sheduled_at" in result.output
    assert "scheduled_at" in result.output  # the known columns are listed
    assert platform.publishing.recorder.calls == []


async def test_file_level_errors(cli: RunCli, platform: Platform, tmp_path: Path) -> None:
    cases = {
        "no_targets.csv": ("text,labels\nHallo,a\n", "needs a 'targets' column"),
        "twice.csv": ("text,targets,Text\nHallo,simulated:@a,x\n", "more than once: text"),
        "empty.csv": ("", "the file is empty"),
        "header_only.csv": ("text,targets\n", "no rows of posts"),
    }
    for name, (text, message) in cases.items():
        result = await cli("posts", "import", str(_write(tmp_path, text, name)))
        assert result.exit_code == 1, name
        assert message in result.output, (name, result.output)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,targets\nGrüße,simulated:@a\n".encode("latin-1"))
    result = await cli("posts", "import", str(latin))
    assert result.exit_code == 1
    assert "is not UTF-8" in result.output
    missing = await cli("posts", "import", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 1
    assert platform.publishing.recorder.calls == []


async def test_bom_semicolons_and_quoted_newlines(cli: RunCli, platform: Platform, tmp_path: Path) -> None:
    text = (
        "\ufeffText;Targets;Labels;Local Time;Time Zone\r\n"
        '"Zeile eins\r\nZeile zwei; mit Semikolon";simulated:@acme;"a;b";2030-12-24T18:00;Europe/Berlin\r\n'
        "Schöne Grüße;simulated:@acme;;;\r\n"
        ";;;;\r\n"
        "Ohne Ziel;;;;\r\n"
    )
    result = await cli("posts", "import", str(_write(tmp_path, text)))
    assert result.exit_code == 1, result.output  # the last row has no target
    sent = _by_text(platform)
    assert set(sent) == {"Zeile eins\r\nZeile zwei; mit Semikolon", "Schöne Grüße"}
    first = sent["Zeile eins\r\nZeile zwei; mit Semikolon"]
    assert list(first.labels) == ["a", "b"]
    assert first.local_time.date_time == "2030-12-24T18:00"
    lines = [line for line in result.output.splitlines() if "│" in line]
    failed = next(line for line in lines if "failed" in line)
    assert failed.split("│")[1].strip() == "5"  # the header is row 1, the blank row 4 is skipped


async def test_running_the_same_import_twice_creates_nothing_twice(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    path = _write(tmp_path, VALID)
    first = await cli("posts", "import", str(path))
    assert first.exit_code == 0, first.output
    second = await cli("posts", "import", str(path))
    assert second.exit_code == 0, second.output
    creates = _creates(platform)
    assert len(creates) == 6
    assert [r.idempotency_key for r in creates[:3]] != []
    assert sorted(r.idempotency_key for r in creates[:3]) == sorted(r.idempotency_key for r in creates[3:])
    assert len(platform.publishing.posts) == 3
    assert "3 already existed" in second.output
    ids = {p.id for p in platform.publishing.posts.values()}
    for post_id in ids:
        assert post_id in second.output


async def test_replayed_trailer_marks_existing_posts(cli: RunCli, platform: Platform, tmp_path: Path) -> None:
    path = _write(tmp_path, VALID)
    assert (await cli("posts", "import", str(path))).exit_code == 0
    # the post's creation time no longer tells: only the trailer can say it already existed
    for post in platform.publishing.posts.values():
        post.created_at.FromDatetime(datetime(2099, 1, 1, tzinfo=UTC))
    second = await cli("posts", "import", str(path))
    assert second.exit_code == 0, second.output
    assert "3 already existed" in second.output


async def test_replayed_false_wins_over_a_server_clock_behind(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    # new posts look older than the import (the server's clock is behind); the trailer says they are new
    platform.publishing.clock_skew = -timedelta(hours=1)
    result = await cli("posts", "import", str(_write(tmp_path, VALID)))
    assert result.exit_code == 0, result.output
    assert "3 created" in result.output
    assert "already existed" not in result.output


async def test_an_older_server_without_the_trailer_falls_back_to_created_at(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    platform.publishing.legacy = True
    path = _write(tmp_path, VALID)
    first = await cli("posts", "import", str(path))
    assert first.exit_code == 0, first.output
    assert "3 created" in first.output
    second = await cli("posts", "import", str(path))
    assert second.exit_code == 0, second.output
    assert "3 already existed" in second.output
    assert len(platform.publishing.posts) == 3


async def test_reordered_columns_keep_the_keys(cli: RunCli, platform: Platform, tmp_path: Path) -> None:
    one = "text,targets,labels\nA,simulated:@acme,x\nB,simulated:@acme,\n"
    two = "labels,targets,text,campaign_id\nx,simulated:@acme,A,\n,simulated:@acme,B,\n"
    assert (await cli("posts", "import", str(_write(tmp_path, one, "one.csv")))).exit_code == 0
    second = await cli("posts", "import", str(_write(tmp_path, two, "two.csv")))
    assert second.exit_code == 0
    assert "2 already existed" in second.output
    assert len(platform.publishing.posts) == 2


async def test_dry_run_sends_nothing(
    cli: RunCli, platform: Platform, tmp_path: Path, unused_address: str
) -> None:
    path = _write(tmp_path, VALID)
    result = await cli(
        "posts", "import", str(path), "--dry-run", env={"RESONANZ_PUBLISHING_ADDR": unused_address}
    )
    assert result.exit_code == 0, result.output
    assert "3 would create" in result.output
    assert platform.publishing.recorder.calls == []
    bad = _write(tmp_path, "text,targets\nA,simulated:@acme\nB,nonsense\n", "bad.csv")
    report = tmp_path / "dry-errors.csv"
    checked = await cli("posts", "import", str(bad), "--dry-run", "--report", str(report))
    assert checked.exit_code == 1
    assert "1 would create, 1 failed" in checked.output
    assert "'nonsense' is not NETWORK:ACCOUNT" in " ".join(checked.output.split())
    assert "nonsense" in report.read_text(encoding="utf-8-sig")
    assert platform.publishing.recorder.calls == []


async def test_rows_are_sent_concurrently_but_bounded(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    platform.publishing.create_delay = 0.05
    rows = "".join(f"Post {i},simulated:@acme\n" for i in range(24))
    path = _write(tmp_path, "text,targets\n" + rows)
    result = await cli("posts", "import", str(path), "--concurrency", "3")
    assert result.exit_code == 0, result.output
    assert platform.publishing.max_in_flight == 3
    assert len(platform.publishing.posts) == 24
    platform.publishing.max_in_flight = 0
    rows = "".join(f"Mehr {i},simulated:@acme\n" for i in range(40))
    result = await cli("posts", "import", str(_write(tmp_path, "text,targets\n" + rows, "more.csv")))
    assert result.exit_code == 0, result.output
    assert 3 < platform.publishing.max_in_flight <= 8  # the default


async def test_errors_only_lists_just_the_failed_rows(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    path = _write(tmp_path, "text,targets\nGut,simulated:@acme\n,simulated:@acme\n")
    result = await cli("posts", "import", str(path), "--errors-only")
    assert result.exit_code == 1
    assert "2 row(s), 1 shown" in result.output
    assert "created" not in [cell.strip() for line in result.output.splitlines() for cell in line.split("│")]


async def test_an_unreachable_service_stops_the_import(
    cli: RunCli, platform: Platform, tmp_path: Path
) -> None:
    platform.publishing.unavailable_after = 2
    rows = "".join(f"Post {i},simulated:@acme\n" for i in range(6))
    report = tmp_path / "errors.csv"
    path = _write(tmp_path, "text,targets\n" + rows)
    result = await cli("posts", "import", str(path), "--concurrency", "1", "--report", str(report))
    assert result.exit_code == 2, result.output
    assert len(_creates(platform)) == 3
    assert "2 created, 1 failed, 3 not sent" in result.output
    assert "run the same import again" in " ".join(result.output.split())
    with report.open(encoding="utf-8-sig", newline="") as f:
        failed = list(csv.DictReader(f))
    assert [r["text"] for r in failed] == ["Post 2", "Post 3", "Post 4", "Post 5"]
    assert all(r["idempotency_key"].startswith("csv-") for r in failed)
    # back again: re-running the original file creates the rest, never the first two twice
    platform.publishing.unavailable_after = None
    again = await cli("posts", "import", str(path))
    assert again.exit_code == 0, again.output
    assert "4 created, 2 already existed" in again.output
    assert len(platform.publishing.posts) == 6


async def test_an_unreachable_address_exits_2(cli: RunCli, tmp_path: Path, unused_address: str) -> None:
    path = _write(tmp_path, VALID)
    result = await cli(
        "posts", "import", str(path), "-j", "1", env={"RESONANZ_PUBLISHING_ADDR": unused_address}
    )
    assert result.exit_code == 2, result.output
    assert "1 failed, 2 not sent" in result.output
    assert f"the publishing service at {unused_address} could not be reached" in " ".join(
        result.output.split()
    )
