"""``finsig demo-data`` (command.main)."""

from __future__ import annotations

from finsig_assets.demo_data.command import main


def test_writes_and_prints_a_summary(tmp_path, capsys):
    root = tmp_path / "landing"
    rc = main(["--landing-dir", str(root), "--sessions", "2", "--first-session", "2024-07-01", "--articles-per-session", "10", "--seed", "2"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "2024-07-01 .. 2024-07-02" in out and "distinct complete candles" in out and "distinct articles" in out
    assert any((root / "market").rglob("*.ndjson")) and any((root / "news").rglob("*.json"))


def test_default_landing_dir_comes_from_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FINSIG_LANDING_DIR", str(tmp_path / "env-landing"))
    assert main(["--sessions", "1", "--articles-per-session", "5", "--no-malformed", "--news-effect", "1.5"]) == 0
    assert "0 malformed lines" in capsys.readouterr().out
    assert any((tmp_path / "env-landing" / "market").rglob("*.ndjson"))


def test_refuses_a_used_dir_unless_forced(tmp_path, capsys):
    args = ["--landing-dir", str(tmp_path), "--sessions", "1", "--articles-per-session", "5"]
    assert main(args) == 0
    assert main(args) == 2
    assert "already holds files" in capsys.readouterr().err
    (tmp_path / "keep.txt").write_text("not ours")
    assert main([*args, "--force", "--seed", "9"]) == 0
    assert (tmp_path / "keep.txt").exists()


def test_bad_session_is_an_error_not_a_traceback(tmp_path, capsys):
    assert main(["--landing-dir", str(tmp_path), "--first-session", "2024-07-04"]) == 2
    assert "not an XNYS session" in capsys.readouterr().err


def test_default_sessions_end_before_the_latest_partition(tmp_path, capsys):
    from finsig_assets.demo_data.command import latest_partition_key
    from finsig_assets.trading_calendar import previous_session

    assert main(["--landing-dir", str(tmp_path), "--sessions", "2", "--articles-per-session", "2", "--no-malformed"]) == 0
    last = previous_session(latest_partition_key()).isoformat()
    assert f".. {last} (2)" in capsys.readouterr().out  # the latest partition is left for the next session


def test_home_settings_and_next_session(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FINSIG_HOME", str(tmp_path / "home"))
    root = tmp_path / "landing"
    args = ["--landing-dir", str(root), "--articles-per-session", "4", "--seed", "3"]
    assert main([*args, "--sessions", "3", "--last-session", "2024-07-03", "--home-settings"]) == 0
    text = (tmp_path / "home" / "finsig.env").read_text()
    assert "FINSIG_PARTITIONS_START=2024-07-01" in text and "FINSIG_DEMO_RANGE=2024-07-01...2024-07-03" in text
    assert "FINSIG_MODEL_WINDOW_SESSIONS=3" in text and "FINSIG_MODEL_MIN_SESSIONS=2" in text
    before = {p.relative_to(root) for p in root.rglob("*") if p.is_file()}
    assert main([*args, "--next-session"]) == 0
    out = capsys.readouterr().out
    assert "landed session 2024-07-05" in out  # 07-04 is a holiday
    after = {p.relative_to(root) for p in root.rglob("*") if p.is_file()}
    new = after - before
    assert any("2024-07-05" in str(p) for p in new if str(p).startswith("market/"))
    assert not any(p.name.startswith(".demo-next") for p in root.iterdir())  # the staging folder is gone
    assert "FINSIG_DEMO_RANGE=2024-07-01...2024-07-05" in (tmp_path / "home" / "finsig.env").read_text()


def test_next_session_needs_a_demo(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FINSIG_HOME", str(tmp_path / "empty-home"))
    assert main(["--landing-dir", str(tmp_path), "--next-session"]) == 2
    assert "no demo in" in capsys.readouterr().err


def test_reset_refuses_a_home_that_is_not_a_demo(tmp_path, monkeypatch, capsys):
    home = tmp_path / "real-home"
    home.mkdir()
    (home / "finsig.env").write_text("FINSIG_PARTITIONS_START=2020-01-02\n")
    (home / "warehouse.duckdb").write_bytes(b"precious")
    monkeypatch.setenv("FINSIG_HOME", str(home))
    assert main(["--landing-dir", str(tmp_path / "landing"), "--sessions", "1", "--reset-home"]) == 2
    assert "not a demo home" in capsys.readouterr().err
    assert (home / "warehouse.duckdb").read_bytes() == b"precious"


def test_make_demo_materializes_through_the_latest_partition(tmp_path, monkeypatch):
    from finsig_assets.demo_data.command import latest_partition_key, materialize_range

    monkeypatch.setenv("FINSIG_HOME", str(tmp_path))
    (tmp_path / "finsig.env").write_text("FINSIG_DEMO_RANGE=2024-06-24...2024-07-22\n")
    assert materialize_range() == ("2024-06-24", latest_partition_key())
