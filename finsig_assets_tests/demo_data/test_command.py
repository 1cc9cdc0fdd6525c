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
