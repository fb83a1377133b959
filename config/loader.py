"""Load and validate the config file, reporting every mistake of every channel at once.

The channel types' option models live with the connectors, which sit above this
layer; the caller passes a function that finds the model for a type name, so this
module never imports a connector.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from config.models import ChannelConfig, KanalConfig


@dataclass(frozen=True)
class ConfigIssue:
    """One mistake in the config: where it is and what to do about it."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ConfigError(Exception):
    """The config file is not valid; ``issues`` lists every mistake found."""

    def __init__(self, path: Path | str, issues: list[ConfigIssue]) -> None:
        self.path = str(path)
        self.issues = issues
        lines = "\n".join(f"  - {issue}" for issue in issues)
        super().__init__(f"{self.path}: {len(issues)} problem(s)\n{lines}")


class UnknownChannelType(LookupError):
    """No built-in or installed connector has this type name."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = sorted(known)
        close = difflib.get_close_matches(name, self.known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(f"unknown channel type {name!r}.{hint} Known types: {', '.join(self.known)}")


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config: the file's models plus each channel's validated options."""

    path: Path
    kanal: KanalConfig
    options: dict[str, BaseModel]

    def enabled_channels(self) -> list[ChannelConfig]:
        """Channel instances with ``enabled: true``, in file order."""
        return [c for c in self.kanal.channels if c.enabled]


OptionsModelLookup = Callable[[str], type[BaseModel]]


def _loc(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pydantic_issues(prefix: str, error: ValidationError) -> list[ConfigIssue]:
    issues = []
    for item in error.errors(include_url=False):
        where = _loc(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown option (check its spelling against `kanal channels`)"
        issues.append(ConfigIssue(f"{prefix}{'.' if where and prefix else ''}{where}" or "(top level)", message))
    return issues


def read_yaml(path: Path) -> dict[str, Any]:
    """Read the YAML file; raise ConfigError for a missing file or bad YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [ConfigIssue(str(path), f"cannot read: {exc.strerror or exc}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [ConfigIssue(where, f"YAML syntax: {problem}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, [ConfigIssue("(top level)", "the file must be a mapping of sections")])
    return data


def load_config(path: Path | str, options_model_for: OptionsModelLookup) -> LoadedConfig:
    """Load ``path`` and validate everything, collecting every issue before raising.

    Raises:
        ConfigError: with one :class:`ConfigIssue` per mistake.
    """
    path = Path(path)
    data = read_yaml(path)
    issues: list[ConfigIssue] = []
    raw_channels = data.get("channels") or []
    if not isinstance(raw_channels, list):
        issues.append(ConfigIssue("channels", "must be a list of channel blocks"))
        raw_channels = []
    top = {k: v for k, v in data.items() if k != "channels"}
    try:
        kanal = KanalConfig.model_validate({**top, "channels": []})
    except ValidationError as exc:
        issues.extend(_pydantic_issues("", exc))
        kanal = None

    channels: list[ChannelConfig] = []
    options: dict[str, BaseModel] = {}
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_channels):
        label = f"channels[{index}]"
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            label = f"channel {raw['name']!r} (channels[{index}])"
        try:
            channel = ChannelConfig.model_validate(raw)
        except ValidationError as exc:
            issues.extend(_pydantic_issues(label, exc))
            channel = None
        if channel is None:
            continue
        if channel.name in seen:
            issues.append(ConfigIssue(label + ".name", f"duplicate name; channels[{seen[channel.name]}] has it"))
            continue
        seen[channel.name] = index
        try:
            model = options_model_for(channel.type)
        except UnknownChannelType as exc:
            issues.append(ConfigIssue(label + ".type", str(exc)))
            continue
        except ImportError as exc:
            issues.append(ConfigIssue(label + ".type", f"channel type {channel.type!r} cannot be loaded: {exc}"))
            continue
        try:
            options[channel.name] = model.model_validate(channel.options)
        except ValidationError as exc:
            issues.extend(_pydantic_issues(label + ".options", exc))
            continue
        channels.append(channel)

    if issues or kanal is None:
        raise ConfigError(path, issues)
    kanal = kanal.model_copy(update={"channels": channels})
    return LoadedConfig(path=path, kanal=kanal, options=options)
