"""The ``[gammu]`` settings section."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from channels.sms_gammu.settings import GammuSettings


def test_defaults_are_the_disabled_dummy_phone() -> None:
    settings = GammuSettings()

    assert settings.enabled is False
    assert (settings.device, settings.connection, settings.model) == \
        ("var/demo-modem", "none", "dummy")
    assert settings.parts_timeout_s == 3600
    assert settings.send_rate_per_minute == 10


@pytest.mark.parametrize("bad", [{"devise": "/dev/ttyUSB0"}, {"send_rate_per_minute": 0},
                                 {"modem_timezone": "Mars/Olympus"}, {"connection": " "}])
def test_bad_values_are_refused_naming_the_key(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as caught:
        GammuSettings.model_validate(bad)

    assert next(iter(bad)) in str(caught.value)
