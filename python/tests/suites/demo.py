"""The demo's checks (examples/demo/drive.py) as a pytest suite that uses nothing but the
plugin's `teamster` fixture: the bundle is examples/demo/bundle.toml (Postgres, Redis, the
SMTP sink and the Django app), configured through `teamster_bundle` in pytest.ini."""

import datetime as dt
import json
import urllib.parse
import urllib.request


def call(teamster, method, path, params=None):
    base = teamster["web"].connection["url"].rstrip("/")
    data = urllib.parse.urlencode(params).encode() if params else None
    req = urllib.request.Request(base + path, data=data, method=method)
    with urllib.request.urlopen(req, timeout=15) as resp:
        return json.loads(resp.read())


def test_index_counts_hits_in_redis(teamster):
    first = call(teamster, "GET", "/")
    second = call(teamster, "GET", "/")
    assert first["ok"] is True
    assert second["hits"] == first["hits"] + 1
    hits = teamster["cache"].cli("get", ":1:hits").output().strip()
    assert int(hits) == second["hits"]


def test_notes_are_stored_in_postgres(teamster):
    before = call(teamster, "GET", "/")["notes"]
    note = call(teamster, "POST", "/notes", {"text": "from pytest"})
    assert note["text"] == "from pytest"
    assert call(teamster, "GET", "/")["notes"] == before + 1
    out = teamster["db"].psql("-tAc", "select count(*) from notes_note").output()
    assert int(out.strip()) == before + 1


def test_fixtures_were_loaded_before_start(teamster):
    out = teamster["db"].psql("-tAc", "select text from notes_note where id = 1").output()
    assert out.strip() == "First sample note"


def test_server_time_is_aware(teamster):
    now = dt.datetime.fromisoformat(call(teamster, "GET", "/now")["now"])
    assert now.tzinfo is not None
    assert abs((now - teamster.now()).total_seconds()) < 60


def test_signup_sends_a_welcome_mail(teamster):
    email = "someone@example.test"
    signup = call(teamster, "POST", "/signup", {"email": email})
    assert signup == {"ok": True, "email": email, "sent": True}
    mail = teamster["mail"].logs.out.until_json(
        lambda m: email in m["sent_to"] and m["subject"] == "Welcome", timeout=10, lines_back=100
    )
    link = next(x for x in mail["links"] if "/confirm/" in x)
    path = urllib.parse.urlsplit(link).path
    assert call(teamster, "GET", path) == {"ok": True, "email": email, "confirmed": True}


def test_time_travel_is_seen_by_django(teamster, capsys):
    before = dt.datetime.fromisoformat(call(teamster, "GET", "/now")["now"])
    teamster.time_travel(days=30)
    assert "Time travelling to" in capsys.readouterr().out
    after = dt.datetime.fromisoformat(call(teamster, "GET", "/now")["now"])
    assert dt.timedelta(days=29, hours=23) < after - before < dt.timedelta(days=30, hours=1)
    assert abs((after - teamster.now()).total_seconds()) < 60
    teamster.time_travel(days=-30)


def test_manage_runs_in_the_apps_environment(teamster):
    out = teamster["web"].manage("showmigrations", "notes").output()
    assert "[X] 0001_initial" in out
