"""``--json``: commands print the protobuf JSON mapping (proto field names, enums by name) for scripts,
against the in-process doubles over real gRPC.
"""

from __future__ import annotations

import json
from pathlib import Path

from cli_doubles import Platform, RunCli

ARGS = ("posts", "create", "--text", "Hallo", "--target", "simulated:@acme")


async def test_post_commands_print_json(cli: RunCli, platform: Platform) -> None:
    created = await cli(*ARGS, "--draft", "--label", "a", "--json")
    assert created.exit_code == 0, created.output
    post = json.loads(created.output)
    assert post["status"] == "POST_STATUS_DRAFT"
    assert post["labels"] == ["a"]
    assert post["targets"][0]["account"] == "@acme"
    assert post["id"] in platform.publishing.posts
    submitted = json.loads((await cli("posts", "submit", post["id"], "--json")).output)
    assert submitted["status"] == "POST_STATUS_SCHEDULED"
    got = json.loads((await cli("posts", "get", post["id"], "--json")).output)
    assert got["id"] == post["id"]
    listed = json.loads((await cli("posts", "list", "--json")).output)
    assert [p["id"] for p in listed] == [post["id"]]
    comment = json.loads((await cli("posts", "comment", post["id"], "gut", "--json")).output)
    assert comment["text"] == "gut"
    comments = json.loads((await cli("posts", "comments", post["id"], "--json")).output)
    assert [c["text"] for c in comments] == ["gut"]
    audit = json.loads((await cli("posts", "audit", post["id"], "--json")).output)
    assert [e["action"] for e in audit] == ["created", "submitted", "commented"]


async def test_watch_json_prints_one_line_per_update(cli: RunCli, platform: Platform) -> None:
    result = await cli(*ARGS, "--watch", "--json")
    assert result.exit_code == 0, result.output
    created_end = result.output.index("\n}\n") + 3
    created = json.loads(result.output[:created_end])
    updates = [json.loads(line) for line in result.output[created_end:].splitlines()]
    assert [u["status"] for u in updates] == [
        "POST_STATUS_SCHEDULED",
        "POST_STATUS_PUBLISHING",
        "POST_STATUS_PUBLISHED",
    ]
    assert {u["id"] for u in updates} == {created["id"]}


async def test_import_json(cli: RunCli, platform: Platform, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("text,targets\nA,simulated:@acme\n,simulated:@acme\n", encoding="utf-8")
    report = tmp_path / "errors.csv"
    result = await cli("posts", "import", str(path), "--json", "--report", str(report))
    assert result.exit_code == 1
    start = result.output.index("[")
    end = result.output.rindex("]") + 1
    rows = json.loads(result.output[start:end])
    assert [(r["row"], r["result"]) for r in rows] == [(2, "created"), (3, "failed")]
    assert rows[0]["post_id"] in platform.publishing.posts
    assert rows[0]["idempotency_key"].startswith("csv-")
    assert rows[1]["error"] == "text: must not be empty"


async def test_admin_commands_print_json(cli: RunCli, platform: Platform, tmp_path: Path) -> None:
    connected = await cli("accounts", "connect", "simulated", "@acme", "-c", "access_token=geheim", "--json")
    assert connected.exit_code == 0, connected.output
    assert "geheim" not in connected.output
    assert json.loads(connected.output)["credential_fields"] == ["access_token"]
    accounts = json.loads((await cli("accounts", "list", "--json")).output)
    assert [a["handle"] for a in accounts] == ["@acme"]
    rotated = json.loads((await cli("accounts", "rotate-keys", "--json")).output)
    assert rotated == {"rotated": 1}
    queue = await cli(
        "accounts", "queue", "set", "simulated", "@acme", "--tz", "UTC", "--slot", "mon 9:00", "--json"
    )
    assert json.loads(queue.output)["slots"] == [{"weekday": 1, "time": "09:00"}]
    policy = await cli("workspace", "policy", "set", "--step", "brand=2", "--json")
    assert json.loads(policy.output) == {"steps": [{"name": "brand", "approvals_required": 2}]}
    members = await cli("workspace", "members", "--json")
    assert json.loads(members.output) == []
    campaign = json.loads((await cli("workspace", "campaigns", "create", "Sommer", "--json")).output)
    assert campaign["name"] == "Sommer"
    image = tmp_path / "a.png"
    image.write_bytes(b"png")
    media = json.loads((await cli("media", "upload", str(image), "--json")).output)
    assert media["item"]["mime_type"] == "image/png"
    assert media["item"]["type"] == "MEDIA_TYPE_IMAGE"
