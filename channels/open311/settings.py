"""Settings of the Open311 channel (the ``[open311]`` section), and its service list.

Services are the hotline's categories (the agent console's list) under stable
ASCII codes; a site may replace them with ``[[open311.services]]`` tables. A
service whose category asks extra questions lists them as ``attributes``
(GeoReport v2 "service definitions"); the answers are filed with the item.
Limits follow the specification where it gives one (4,000 characters of
description, 90 days and 1,000 requests per query).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.validators import http_url

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]


class AttributeValue(BaseModel):
    """One choice of a list attribute: ``key`` is what a client sends, ``name`` what it shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    name: str


class ServiceAttribute(BaseModel):
    """One extra question of a service (GeoReport v2 ``attribute``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    description: str
    datatype: Datatype = "string"
    required: bool = False
    variable: bool = True
    datatype_description: str | None = None
    order: int = Field(1, ge=1)
    values: tuple[AttributeValue, ...] = ()

    @model_validator(mode="after")
    def _lists_have_values(self) -> ServiceAttribute:
        if self.datatype.endswith("valuelist") and not self.values:
            raise ValueError(f"attribute {self.code}: a {self.datatype} needs values")
        return self


class Service(BaseModel):
    """One service: a hotline category under a code, with its questions and its notice."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name: str
    category: str
    """The hotline's category (as the console files it: ``category=<name>``)."""
    description: str = ""
    group: str = ""
    keywords: tuple[str, ...] = ()
    notice: str = "12345热线将在受理后转交办理单位，办理单位一般在10个工作日内答复。"
    """``service_notice``: what the city will do, shown when a request is filed."""
    attributes: tuple[ServiceAttribute, ...] = ()

    @field_validator("code")
    @classmethod
    def _code_shape(cls, value: str) -> str:
        if not _CODE.match(value):
            raise ValueError("a service code is 1-32 letters, digits, '_' or '-'")
        return value

    @property
    def metadata(self) -> bool:
        """GeoReport's ``metadata``: true when the service has a definition to fetch."""
        return bool(self.attributes)


_YES_NO = (AttributeValue(key="yes", name="是"), AttributeValue(key="no", name="否"))

DEFAULT_SERVICES: tuple[Service, ...] = (
    Service(code="urban", name="城市管理", category="城管", group="城市管理",
            description="市容环境、占道经营、井盖、路灯、违章搭建等",
            keywords=("井盖", "路灯", "占道", "违建"),
            attributes=(ServiceAttribute(code="BLOCKING", datatype="singlevaluelist", required=True,
                                         description="是否影响行人或车辆通行？", values=_YES_NO),)),
    Service(code="housing", name="住房建设", category="住建", group="住房建设",
            description="物业、房屋质量、建筑工地、老旧小区改造等"),
    Service(code="traffic", name="交通运输", category="交通", group="交通",
            description="公交、出租车、道路破损、交通设施等"),
    Service(code="environment", name="生态环境", category="环保", group="生态环境",
            description="噪声、油烟、废气、污水等污染",
            attributes=(
                ServiceAttribute(code="KIND", datatype="multivaluelist", required=True, order=1,
                                 description="污染类型（可多选）", values=(
                                     AttributeValue(key="noise", name="噪声"),
                                     AttributeValue(key="smoke", name="油烟废气"),
                                     AttributeValue(key="water", name="污水"),
                                     AttributeValue(key="other", name="其他"))),
                ServiceAttribute(code="WHEN", datatype="datetime", order=2,
                                 description="最近一次发生的时间",
                                 datatype_description="ISO 8601，例如 2026-12-01T22:30:00+08:00"),
            )),
    Service(code="market", name="市场监管", category="市场监管", group="市场监管",
            description="食品安全、价格、消费纠纷等"),
    Service(code="labour", name="人力社保", category="人社", group="人力社保",
            description="欠薪、社保、就业等"),
    Service(code="health", name="卫生健康", category="卫健", group="卫生健康",
            description="医疗服务、公共卫生等"),
    Service(code="education", name="教育", category="教育", group="教育",
            description="学校、招生、培训机构等"),
    Service(code="police", name="公安（非紧急）", category="公安", group="公安",
            description="户籍、证照、治安等非紧急事项；紧急情况请拨打110"),
    Service(code="water", name="水务", category="水务", group="水务",
            description="供水、排水、内涝等"),
    Service(code="other", name="其他", category="其他", group="其他",
            description="以上类别之外的诉求"),
)


class Open311Settings(BaseModel):
    """Open311 GeoReport v2 endpoint: services, limits, discovery text and deferral."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    jurisdiction_id: str = ""
    """When set, a call naming another jurisdiction is answered 404; empty: any or none."""
    public_base_url: str = ""
    """Scheme, host and prefix clients call (for discovery); empty: taken from the request."""
    contact: str = "12345 市民服务热线；API 问题请联系市信访局信息科"
    key_service: str = "API key 由市信访局管理员在管理台或以 `hotline open311 key add` 发放"
    changeset: str = "2026-12-02T00:00:00+08:00"
    """When the service list last changed (discovery's ``changeset``)."""
    services: tuple[Service, ...] = DEFAULT_SERVICES
    max_body_bytes: int = Field(16_384, gt=0, le=1_048_576)
    max_description_chars: int = Field(4000, gt=0)
    rate_free: int = Field(60, ge=1)
    """Calls a client may make per ``rate_window_s`` before each further one must wait."""
    rate_window_s: float = Field(60.0, gt=0)
    default_days: int = Field(90, ge=1)
    """GET requests without dates: the last this many days."""
    max_range_days: int = Field(90, ge=1)
    max_results: int = Field(1000, ge=1, le=10_000)
    defer_when_store_down: bool = True
    """Store down: keep the request in the spool (fsynced) and answer a token, instead of 503."""
    spool_dir: str = ""
    """Where deferred requests wait; empty: ``<data_dir>/open311/spool``."""
    drain_interval_s: float = Field(30.0, gt=0)

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return http_url(value)

    @model_validator(mode="after")
    def _unique_codes(self) -> Open311Settings:
        codes = [s.code for s in self.services]
        if len(set(codes)) != len(codes):
            raise ValueError("open311.services: service codes must be unique")
        return self

    def service(self, code: str) -> Service | None:
        return next((s for s in self.services if s.code == code), None)
