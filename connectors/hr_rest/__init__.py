"""`[hr] kind = "rest"`: the employees read from an HR SaaS's API (presets dingtalk, feishu, wecom, generic).

- `client`: one API call (token cache and renewal, rate limits and retries, vendor errors, secrets scrubbed);
- `dingtalk`, `feishu`, `wecom`, `generic`: each vendor's documented protocol and read;
- `records`: users and departments -> rows of canonical fields; `source`: the `HrSource` port.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import httpx

from connectors.hr_rest import dingtalk, feishu, wecom
from connectors.hr_rest.client import RestClient
from connectors.hr_rest.dingtalk import DingTalk
from connectors.hr_rest.feishu import Feishu
from connectors.hr_rest.generic import Generic
from connectors.hr_rest.source import RestHrSource
from connectors.hr_rest.wecom import WeCom
from lifecycle.domain.errors import FeedError
from lifecycle.domain.hr_settings import HrSettings
from lifecycle.domain.settings import Secret, read_secret

__all__ = ["RestHrSource", "open_rest_source"]

REST_SECRET = Secret("hr.rest", "app_secret", "the app secret")


def open_rest_source(
    settings: HrSettings,
    company_aliases: Mapping[str, str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    transport: httpx.BaseTransport | None = None,
) -> RestHrSource:
    """The source `[hr.rest]` describes.  Raises `FeedError` when its secret cannot be read, or when `[hr.columns]`
    is set (it names the headers of a file; a REST source's fields are mapped by `[hr.rest.fields]`)."""
    rest = settings.rest
    if rest is None:
        raise FeedError('[hr] kind = "rest" needs an [hr.rest] section (preset and credentials)')
    if settings.columns:
        mapped = ", ".join(f"{field} = {header!r}" for field, header in sorted(settings.columns.items()))
        raise FeedError(f'[hr.columns] ({mapped}) names the columns of a file and does not apply to kind = "rest"; fix: '
                        "remove [hr.columns] and map the vendor's fields in [hr.rest.fields] instead (canonical field = "
                        'the field path in the API\'s answer, e.g. employee_id = "job_number")')
    secret = ""
    if rest.app_secret is not None or rest.app_secret_file is not None:
        try:
            secret = read_secret(rest, REST_SECRET).get_secret_value()
        except ValueError as exc:
            raise FeedError(f"{exc}; fix: put the app secret in the file [hr.rest] app_secret_file names") from exc
    vendor: DingTalk | Feishu | WeCom | Generic
    if rest.preset == "dingtalk":
        vendor, api, defaults = DingTalk(rest, secret), dingtalk.API, dingtalk.DEFAULTS
    elif rest.preset == "feishu":
        vendor, api, defaults = Feishu(rest, secret), feishu.API, feishu.DEFAULTS
    elif rest.preset == "wecom":
        vendor, api, defaults = WeCom(rest, secret), wecom.API, wecom.DEFAULTS
    else:
        vendor, api, defaults = Generic(rest, secret), "", {}
    base_url = rest.base_url or api
    client = RestClient(vendor, base_url=base_url, secrets=[secret], timeout=rest.timeout_seconds,
                        max_retries=rest.max_retries, max_wait_seconds=rest.max_wait_seconds, sleep=sleep, clock=clock,
                        transport=transport)
    where = f"{vendor.name} {base_url or rest.records_url}".strip()
    return RestHrSource(settings, company_aliases, vendor, client, defaults, where, clock=clock)
