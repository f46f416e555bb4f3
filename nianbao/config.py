"""nianbao's settings: one declaration, read from a TOML file, the environment and the command line.

Each setting has a default here; a TOML file (`--config FILE`, else $NIANBAO_CONFIG, else ./nianbao.toml when it
exists) overrides defaults, an environment variable overrides the file, and a command-line flag (`--set KEY=VALUE`,
or a command's own option such as `--db`) overrides everything. `nianbao config show` prints the effective value of
each setting and where it came from. Relative paths in a file are relative to that file.

    [storage]
    db = "nianbao.db"
    [schedule]
    cron = "0 2 * * *"
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from nianbao.alerts import AlertSettings

ENV_PREFIX = "NIANBAO_"
CONFIG_ENV = "NIANBAO_CONFIG"
DEFAULT_FILE = Path("nianbao.toml")


@dataclass(frozen=True)
class Setting:
    key: str  # "section.name", as in the TOML file
    default: Any
    kind: type  # str, int, float, bool, Path, date (None allowed for optional ones), list (of str)
    help: str
    env_name: str = ""  # "": NIANBAO_SECTION_NAME
    optional: bool = False
    secret: bool = False  # never printed

    @property
    def env(self) -> str:
        return self.env_name or ENV_PREFIX + self.key.replace(".", "_").upper()


# The crawl's Scrapy settings each of these sets (crawler/settings.py holds their production defaults).
CRAWL_SCRAPY_SETTINGS = {
    "crawl.download_delay": ("DOWNLOAD_DELAY", "AUTOTHROTTLE_START_DELAY"),
    "crawl.autothrottle": ("AUTOTHROTTLE_ENABLED",),
    "crawl.download_timeout": ("DOWNLOAD_TIMEOUT",),
    "crawl.contact_url": ("NIANBAO_CONTACT_URL",),
    "crawl.revisit_nights": ("NIANBAO_REVISIT_NIGHTS",),
    "crawl.extract_workers": ("NIANBAO_EXTRACT_WORKERS",),
    "crawl.log_level": ("LOG_LEVEL",),
}

SETTINGS: tuple[Setting, ...] = (
    Setting("storage.db", Path("nianbao.db"), Path, "the SQLite database", env_name="NIANBAO_DB"),
    Setting("storage.store", Path("store"), Path, "the content-addressed document store", env_name="NIANBAO_STORE_DIR"),
    Setting("registry.units", Path("units.csv"), Path, "the units file (CSV or YAML): who must publish, where"),
    Setting("crawl.limit", 0, int, "crawl only the first N units (0: all)"),
    Setting("crawl.download_delay", 2.0, float, "seconds between two requests to one server (AutoThrottle stretches it)"),
    Setting("crawl.autothrottle", True, bool, "slow down further when a server slows down"),
    Setting("crawl.download_timeout", 60, int, "seconds before a request to a slow county server is given up and retried"),
    Setting("crawl.contact_url", "https://github.com/nianbao/nianbao#crawler", str,
            "the page our User-Agent points server operators to", env_name="NIANBAO_CONTACT_URL"),
    Setting("crawl.revisit_nights", 30, int, "a stored report is looked at again once in this many nights",
            env_name="NIANBAO_REVISIT_NIGHTS"),
    Setting("crawl.extract_workers", 0, int, "extraction processes (0: one per CPU)"),
    Setting("crawl.log_level", "WARNING", str, "Scrapy's log level during a crawl"),
    Setting("schedule.cron", "0 2 * * *", str, "when the nightly cycle runs: crontab (5 fields), or 6 with seconds first"),
    Setting("schedule.timezone", "Asia/Shanghai", str, "the time zone of the cron expression and of 'today'"),
    Setting("schedule.misfire_grace_seconds", 3600, int, "a cycle missed (machine asleep) still runs this late"),
    Setting("schedule.log_file", Path("nianbao.log"), Path, "the scheduler's log (rotated)"),
    Setting("schedule.log_max_bytes", 10 * 2**20, int, "rotate the log at this size"),
    Setting("schedule.log_backups", 5, int, "rotated logs kept"),
    Setting("status.html", Path("status.html"), Path, "the morning status report, HTML"),
    Setting("status.json", Path("status.json"), Path, "the morning status report, JSON"),
    Setting("status.today", None, date, "the date to evaluate and crawl as (YYYY-MM-DD; unset: the real date)",
            optional=True),
    Setting("alerts.webhook_url", None, str, "POST the night's new findings here as JSON", optional=True),
    Setting("alerts.smtp_host", None, str, "e-mail the night's new findings through this server", optional=True),
    Setting("alerts.smtp_port", 587, int, "SMTP port"),
    Setting("alerts.smtp_starttls", True, bool, "use STARTTLS"),
    Setting("alerts.smtp_user", None, str, "SMTP login", optional=True),
    Setting("alerts.smtp_password", None, str, "SMTP password (better in the environment than in the file)",
            optional=True, secret=True),
    Setting("alerts.smtp_from", None, str, "sender address", optional=True),
    Setting("alerts.smtp_to", [], list, "recipients"),
)
SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}


class ConfigError(ValueError):
    """A settings file, variable or flag nianbao cannot use; the message names which and why."""


def parse(setting: Setting, value: Any, origin: str, base: Path | None = None) -> Any:
    """`value` (from TOML, or a string from the environment or a flag) as the setting's type."""
    if value is None or (isinstance(value, str) and value == "" and setting.optional):
        if setting.optional:
            return None
        raise ConfigError(f"{setting.key} ({origin}) needs a value")
    try:
        if setting.kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if setting.kind is int:
            if isinstance(value, bool | float):
                raise ValueError("expected a whole number")
            return int(value)
        if setting.kind is float:
            if isinstance(value, bool):
                raise ValueError("expected a number")
            return float(value)
        if setting.kind is Path:
            path = Path(str(value)).expanduser()
            return base / path if base is not None and not path.is_absolute() else path
        if setting.kind is date:
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        if setting.kind is list:
            items = value if isinstance(value, list) else str(value).split(",")
            return [str(item).strip() for item in items if str(item).strip()]
        if not isinstance(value, str):
            raise ValueError("expected text")
        return value
    except ValueError as exc:
        raise ConfigError(f"{setting.key} ({origin}): {value!r}: {exc}") from None


@dataclass(frozen=True)
class Config:
    """The effective settings and where each came from ("default", the file's path, "env NAME", "flag")."""

    values: Mapping[str, Any]
    origins: Mapping[str, str]
    file: Path | None

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def with_flags(self, flags: Mapping[str, Any]) -> Config:
        """These settings with a command's own options on top (None: the option was not given)."""
        given = {key: value for key, value in flags.items() if value is not None}
        values = dict(self.values)
        origins = dict(self.origins)
        for key, value in given.items():
            values[key] = parse(SETTINGS_BY_KEY[key], value, "flag")
            origins[key] = "flag"
        return Config(values, origins, self.file)

    @property
    def today(self) -> date:
        return self.values["status.today"] or today_in(self.values["schedule.timezone"])

    def scrapy_overrides(self) -> dict[str, Any]:
        """The crawl's Scrapy settings these settings change from crawler/settings.py's defaults."""
        overrides: dict[str, Any] = {}
        for key, names in CRAWL_SCRAPY_SETTINGS.items():
            if self.origins[key] != "default":
                overrides.update(dict.fromkeys(names, self.values[key]))
        if self.values["status.today"] is not None:
            overrides["NIANBAO_NIGHT"] = self.values["status.today"].isoformat()
        return overrides

    def alert_settings(self) -> AlertSettings:
        try:
            return AlertSettings(
                webhook_url=self["alerts.webhook_url"], smtp_host=self["alerts.smtp_host"], smtp_port=self["alerts.smtp_port"],
                smtp_starttls=self["alerts.smtp_starttls"], smtp_user=self["alerts.smtp_user"],
                smtp_password=self["alerts.smtp_password"], smtp_from=self["alerts.smtp_from"],
                smtp_to=tuple(self["alerts.smtp_to"]),
            )
        except ValueError as exc:
            raise ConfigError(f"alerts: {exc}") from None

    def command_line(self) -> list[str]:
        """`nianbao` options that give a child process these same settings: the file, then every setting that
        came from a flag (the environment is inherited)."""
        options = ["--config", str(self.file)] if self.file is not None else []
        for key, origin in self.origins.items():
            if origin == "flag":
                options += ["--set", f"{key}={_text(self.values[key])}"]
        return options

    def shown(self) -> list[tuple[str, str, str, str]]:
        """(key, value, origin, help) of every setting, secrets masked."""
        rows = []
        for setting in SETTINGS:
            value = self.values[setting.key]
            text = "********" if setting.secret and value else _text(value)
            rows.append((setting.key, text, self.origins[setting.key], setting.help))
        return rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def today_in(timezone: str) -> date:
    return datetime.now(ZoneInfo(timezone)).date()


def config_file(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        return explicit
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return DEFAULT_FILE if DEFAULT_FILE.is_file() else None


def read_file(path: Path) -> dict[str, Any]:
    """The file's settings as {"section.name": value}; unknown keys are errors (a typo must not pass silently)."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    found: dict[str, Any] = {}
    for section, table in document.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section!r} must be a [section]")
        for name, value in table.items():
            key = f"{section}.{name}"
            if key not in SETTINGS_BY_KEY:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            found[key] = value
    return found


def load(explicit_file: Path | None = None, flags: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> Config:
    """The effective settings: defaults ← file ← environment ← `--set KEY=VALUE` flags."""
    environ = os.environ if environ is None else environ
    values = {s.key: s.default for s in SETTINGS}
    origins = dict.fromkeys(values, "default")
    path = config_file(explicit_file, environ)
    if path is not None:
        base = path.resolve().parent
        for key, value in read_file(path).items():
            values[key] = parse(SETTINGS_BY_KEY[key], value, str(path), base)
            origins[key] = str(path)
    for setting in SETTINGS:
        if setting.env in environ:
            values[setting.key] = parse(setting, environ[setting.env], f"env {setting.env}")
            origins[setting.key] = f"env {setting.env}"
    config = Config(values, origins, path)
    parsed: dict[str, str] = {}
    for flag in flags:
        key, equals, value = flag.partition("=")
        if not equals or key.strip() not in SETTINGS_BY_KEY:
            raise ConfigError(f"--set {flag!r}: expected KEY=VALUE with KEY one of: {', '.join(SETTINGS_BY_KEY)}")
        parsed[key.strip()] = value
    return config.with_flags(parsed)


def to_toml(config: Config) -> str:
    """The settings as a TOML file (secrets left out), with each setting's help as a comment."""
    lines: list[str] = []
    section = ""
    for setting in SETTINGS:
        if setting.secret:
            continue
        head, _, name = setting.key.partition(".")
        if head != section:
            lines += ["", f"[{head}]"] if lines else [f"[{head}]"]
            section = head
        value = config.values[setting.key]
        line = f"{name} = {_toml_value(value)}"
        if value is None:
            line = f"# {name} = "
        lines.append(f"{line:<48} # {setting.help}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)
