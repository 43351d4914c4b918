"""Response forms: the typed questions a campaign asks (信息收集), each required or optional,
each with a sensitivity flag. A notice has an empty form: its response is the confirmation."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class FieldType(enum.StrEnum):
    NUMBER = "number"
    CHOICE = "choice"
    MULTI = "multi"
    YESNO = "yesno"
    DATE = "date"
    TEXT = "text"
    LONGTEXT = "longtext"


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    label_en: str
    type: FieldType
    required: bool = True
    sensitive: bool = False
    options: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "label_en": self.label_en,
            "type": self.type.value,
            "required": self.required,
            "sensitive": self.sensitive,
            "options": list(self.options),
            "minimum": self.minimum,
            "maximum": self.maximum,
            "unit": self.unit,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Field:
        return cls(
            key=str(data["key"]),
            label=str(data.get("label", data["key"])),
            label_en=str(data.get("label_en", data.get("label", data["key"]))),
            type=FieldType(data["type"]),
            required=bool(data.get("required", True)),
            sensitive=bool(data.get("sensitive", False)),
            options=tuple(str(o) for o in data.get("options", ())),
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            unit=str(data.get("unit", "")),
        )


@dataclass(frozen=True)
class Form:
    fields: tuple[Field, ...] = ()

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.fields]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> Form:
        return cls(tuple(Field.from_json(d) for d in data))

    @property
    def sensitive_keys(self) -> frozenset[str]:
        return frozenset(f.key for f in self.fields if f.sensitive)
