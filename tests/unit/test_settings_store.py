import datetime as dt

import pytest

from standardiste.config import ConfigError
from standardiste.settings.store import PracticeSettings
from standardiste.storage.db import Database

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 's.db'}")
    database.migrate()
    yield database
    database.dispose()


def test_defaults_come_from_the_file(db, demo_config):
    assert PracticeSettings(db, demo_config.practice).current() == demo_config.practice


def test_changed_hours_apply_to_the_next_snapshot_only(db, demo_config):
    settings = PracticeSettings(db, demo_config.practice)
    snapshot = settings.current()
    hours = demo_config.practice.hours.model_dump(mode="json") | {"monday": ["08:00-12:00"]}
    settings.update("hours", hours, "admin", NOW)
    assert str(settings.current().hours.monday[0]) == "08:00-12:00"
    assert str(snapshot.hours.monday[0]) == "08:30-12:30"  # a call in progress keeps its snapshot
    # Another process (another PracticeSettings on the same database) sees it too.
    assert str(PracticeSettings(db, demo_config.practice).current().hours.monday[0]) == "08:00-12:00"


def test_invalid_change_is_refused_and_nothing_is_stored(db, demo_config):
    settings = PracticeSettings(db, demo_config.practice)
    with pytest.raises(ConfigError, match=r"practice\.hours\.monday"):
        settings.update("hours", {"monday": ["08:00-12:00", "11:00-13:00"]}, "admin", NOW)
    assert settings.current() == demo_config.practice
    with pytest.raises(ConfigError, match="not editable"):
        settings.update("name", "Autre", "admin", NOW)
