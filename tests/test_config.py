"""Settings: defaults ← TOML file ← environment ← flags, each value's origin shown; bad settings are clear errors."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from crawl_support import REPO

from nianbao.config import ConfigError, load, to_toml
from scheduler import cron_trigger


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./nianbao.toml here
    config = load(environ={})
    assert config.file is None
    assert config["storage.db"] == Path("nianbao.db")
    assert config["schedule.cron"] == "0 2 * * *"
    assert config["schedule.timezone"] == "Asia/Shanghai"
    assert set(config.origins.values()) == {"default"}
    assert config.scrapy_overrides() == {}


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    file = write(tmp_path / "conf" / "n.toml", """
[storage]
db = "data/n.db"
[crawl]
download_delay = 5
autothrottle = false
[status]
today = 2025-02-20
[alerts]
smtp_to = ["a@example.org", "b@example.org"]
""")
    environ = {"NIANBAO_CRAWL_DOWNLOAD_DELAY": "7.5", "NIANBAO_STORE_DIR": "/srv/store"}
    config = load(file, ["crawl.download_delay=9", "schedule.cron=*/5 * * * * *"], environ=environ)
    # Relative paths in the file are relative to the file; the environment's and flags' to the working directory.
    assert config["storage.db"] == tmp_path / "conf" / "data" / "n.db"
    assert config["storage.store"] == Path("/srv/store")
    assert config["crawl.download_delay"] == 9.0
    assert config["crawl.autothrottle"] is False
    assert config["status.today"] == date(2025, 2, 20)
    assert config["alerts.smtp_to"] == ["a@example.org", "b@example.org"]
    assert config.origins["storage.db"] == str(file)
    assert config.origins["storage.store"] == "env NIANBAO_STORE_DIR"
    assert config.origins["crawl.download_delay"] == "flag"
    assert config.origins["schedule.cron"] == "flag"
    assert config.origins["schedule.timezone"] == "default"
    assert config.scrapy_overrides() == {"DOWNLOAD_DELAY": 9.0, "AUTOTHROTTLE_START_DELAY": 9.0,
                                         "AUTOTHROTTLE_ENABLED": False, "NIANBAO_NIGHT": "2025-02-20"}
    # A child process given command_line() (and this environment) resolves the same settings.
    options = config.command_line()
    assert options == ["--config", str(file), "--set", "crawl.download_delay=9.0", "--set", "schedule.cron=*/5 * * * * *"]
    assert load(file, options[3::2], environ=environ).values == config.values


def test_command_flags_override_everything(tmp_path: Path) -> None:
    file = write(tmp_path / "n.toml", '[storage]\ndb = "file.db"\n')
    config = load(file, environ={"NIANBAO_DB": "env.db"}).with_flags({"storage.db": Path("flag.db"), "storage.store": None})
    assert config["storage.db"] == Path("flag.db") and config.origins["storage.db"] == "flag"
    assert config.origins["storage.store"] == "default"


@pytest.mark.parametrize(("text", "flags", "environ", "message"), [
    ("[storage]\ndbb = 'x'\n", [], {}, "unknown setting 'storage.dbb'"),
    ("[crawl]\ndownload_delay = 'slow'\n", [], {}, "crawl.download_delay"),
    ("[crawl]\nlimit = 2.5\n", [], {}, "expected a whole number"),
    ("storage = 3\n", [], {}, "must be a [section]"),
    ("[storage\n", [], {}, "not valid TOML"),
    ("", ["crawl.autothrottle=maybe"], {}, "expected true or false"),
    ("", ["nokey"], {}, "expected KEY=VALUE"),
    ("", [], {"NIANBAO_STATUS_TODAY": "20250220x"}, "env NIANBAO_STATUS_TODAY"),
    ("[alerts]\nsmtp_host = 'mail.example.org'\n", [], {}, "smtp_from"),
])
def test_bad_settings_are_named(tmp_path: Path, text: str, flags: list[str], environ: dict[str, str], message: str) -> None:
    file = write(tmp_path / "n.toml", text)
    with pytest.raises(ConfigError, match=None) as raised:
        load(file, flags, environ=environ).alert_settings()
    assert message in str(raised.value)


def test_to_toml_round_trips(tmp_path: Path) -> None:
    config = load(None, ["crawl.download_delay=0.5", "alerts.smtp_to=x@example.org"], environ={})
    file = write(tmp_path / "n.toml", to_toml(config))
    again = load(file, environ={})
    assert {k: v for k, v in again.values.items() if not isinstance(v, Path)} == \
           {k: v for k, v in config.values.items() if not isinstance(v, Path)}
    assert again["storage.db"] == tmp_path / "nianbao.db"


def test_config_show_prints_values_and_origins(tmp_path: Path) -> None:
    write(tmp_path / "nianbao.toml", "[schedule]\ncron = '30 3 * * *'\n[alerts]\nsmtp_password = 'hunter2'\n")
    done = subprocess.run([sys.executable, "-m", "nianbao", "--set", "crawl.limit=5", "config", "show"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "COLUMNS": "200", "NIANBAO_DB": "e.db"})
    assert done.returncode == 0, done.stderr
    lines = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:4]] for line in done.stdout.splitlines()
             if line.count("│") >= 4}
    assert lines["schedule.cron"] == ["30 3 * * *", "nianbao.toml"]
    assert lines["crawl.limit"] == ["5", "flag"]
    assert lines["storage.db"] == ["e.db", "env NIANBAO_DB"]
    assert lines["alerts.smtp_password"] == ["********", "nianbao.toml"]
    assert "hunter2" not in done.stdout


def test_a_bad_settings_file_stops_the_command_with_one_line(tmp_path: Path) -> None:
    write(tmp_path / "nianbao.toml", "[crawl]\ndownload_delai = 1\n")
    done = subprocess.run([sys.executable, "-m", "nianbao", "status"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert done.returncode == 2
    assert "unknown setting 'crawl.download_delai'" in done.stderr and "Traceback" not in done.stderr


def test_cron_weekdays_mean_what_crontab_means() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    monday = datetime(2026, 11, 23, 0, 0, tzinfo=zone)  # a Monday
    sunday = cron_trigger("0 2 * * 0", "Asia/Shanghai").get_next_fire_time(None, monday)
    assert (sunday.strftime("%a"), sunday.hour) == ("Sun", 2)
    weekdays = cron_trigger("30 1 * * 1-5", "Asia/Shanghai").get_next_fire_time(None, datetime(2026, 11, 28, tzinfo=zone))
    assert weekdays.strftime("%a %H:%M") == "Mon 01:30"
    every_ten_seconds = cron_trigger("*/10 * * * * *", "Asia/Shanghai")
    first = every_ten_seconds.get_next_fire_time(None, monday)
    assert (every_ten_seconds.get_next_fire_time(first, first.replace(second=1)) - first).seconds == 10
    with pytest.raises(ValueError, match="expected 5 fields"):
        cron_trigger("0 2 * *", "Asia/Shanghai")
