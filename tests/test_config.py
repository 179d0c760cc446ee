import base64

import pytest

from shared.config import SettingsError, load_settings, parse_acs_connection_string

KEY = base64.b64encode(b"k" * 32).decode()
BASE = {
    "ACS_CONNECTION_STRING": f"endpoint=https://contoso.communication.azure.com/;accesskey={KEY}",
    "SMS_FROM_NUMBERS": "+18005550100, +18005550101",
    "TABLES_CONNECTION_STRING": "UseDevelopmentStorage=true",
}


def test_defaults() -> None:
    settings = load_settings(BASE)
    assert settings.acs.endpoint == "https://contoso.communication.azure.com"
    assert settings.acs.access_key == b"k" * 32
    assert settings.from_numbers == ("+18005550100", "+18005550101")
    assert settings.default_region == "US"
    assert settings.table_prefix == "sms"
    assert settings.rate_per_number_per_minute == 200
    assert "Msg&data rates may apply" in settings.help_reply


def test_secrets_stay_out_of_repr() -> None:
    text = repr(load_settings(BASE))
    assert KEY not in text and "k" * 32 not in text
    assert "UseDevelopmentStorage" not in text


def test_connection_string_keys_are_case_insensitive_and_keep_padding() -> None:
    conn = parse_acs_connection_string(f"AccessKey={KEY};Endpoint=http://127.0.0.1:7072")
    assert conn.endpoint == "http://127.0.0.1:7072"
    assert conn.access_key == b"k" * 32


def test_tables_fall_back_to_azure_web_jobs_storage() -> None:
    env = {**BASE, "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    del env["TABLES_CONNECTION_STRING"]
    assert load_settings(env).tables_connection_string == "UseDevelopmentStorage=true"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"ACS_CONNECTION_STRING": ""}, "ACS_CONNECTION_STRING"),
        ({"ACS_CONNECTION_STRING": "endpoint=https://x"}, "ACS_CONNECTION_STRING"),
        (
            {"ACS_CONNECTION_STRING": "endpoint=https://x;accesskey=not base64!"},
            "ACS_CONNECTION_STRING",
        ),
        ({"SMS_FROM_NUMBERS": ""}, "SMS_FROM_NUMBERS"),
        ({"SMS_FROM_NUMBERS": "8005550100"}, "SMS_FROM_NUMBERS"),
        ({"SMS_DEFAULT_REGION": "USA"}, "SMS_DEFAULT_REGION"),
        ({"TABLES_CONNECTION_STRING": ""}, "TABLES_CONNECTION_STRING"),
        ({"SMS_TABLE_PREFIX": "sms-x"}, "SMS_TABLE_PREFIX"),
        ({"SMS_RATE_PER_NUMBER_PER_MINUTE": "fast"}, "SMS_RATE_PER_NUMBER_PER_MINUTE"),
        ({"SMS_RATE_PER_NUMBER_PER_MINUTE": "0"}, "SMS_RATE_PER_NUMBER_PER_MINUTE"),
        ({"SMS_QUIET_HOURS": "9pm-8am"}, "SMS_QUIET_HOURS"),
        ({"SMS_REPORT_TIMEOUT_MINUTES": "-5"}, "SMS_REPORT_TIMEOUT_MINUTES"),
    ],
)
def test_bad_settings_fail_with_one_line_naming_the_setting(
    change: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({**BASE, **change})
    message = str(info.value)
    assert message.startswith(named + ":")
    assert "\n" not in message
    assert KEY not in message
